package local

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"
)

func TestOwnedTarGivesEveryEntryTheIDs(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 33, Gid: 33, Uname: "www-data"},
		{Name: "d/f", Typeflag: tar.TypeReg, Mode: 0o600, Uid: 7, Gid: 8, Size: 5},
		{Name: "d/l", Typeflag: tar.TypeSymlink, Linkname: "f"},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("hello"))
		}
	}
	tw.Close()
	tr := tar.NewReader(ownedTar(&buf, 1000, 2000))
	n := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if h.Uid != 1000 || h.Gid != 2000 || h.Uname != "" {
			t.Errorf("%s: owner %d:%d %q, want 1000:2000 and no name", h.Name, h.Uid, h.Gid, h.Uname)
		}
		if h.Name == "d/f" {
			data, _ := io.ReadAll(tr)
			if string(data) != "hello" || h.Mode != 0o600 {
				t.Errorf("d/f: content %q mode %o, want hello 0600", data, h.Mode)
			}
		}
	}
	if n != 3 {
		t.Errorf("got %d entries, want 3", n)
	}
}
