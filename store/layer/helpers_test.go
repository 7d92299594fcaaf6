package layer_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: whiteout devices, trusted.* xattrs and chown")
	}
}

// file is one entry of a test tar.
type file struct {
	hdr     tar.Header
	content string
}

func reg(name, content string) file {
	return file{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(content)), ModTime: time.Unix(1600000000, 0)}, content: content}
}

func dir(name string) file {
	return file{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: time.Unix(1600000000, 0)}}
}

func symlink(name, target string) file {
	return file{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: time.Unix(1600000000, 0)}}
}

func hardlink(name, target string) file {
	return file{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, ModTime: time.Unix(1600000000, 0)}}
}

func makeTar(t *testing.T, files ...file) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := f.hdr
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, f.content); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// listTar describes every entry of a layer tar on one line.
func listTar(t *testing.T, data []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		content, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		line := fmt.Sprintf("%s %c %o %d:%d", hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid)
		switch hdr.Typeflag {
		case tar.TypeReg:
			line += fmt.Sprintf(" %q", content)
		case tar.TypeSymlink, tar.TypeLink:
			line += " -> " + hdr.Linkname
		case tar.TypeChar, tar.TypeBlock:
			line += fmt.Sprintf(" %d,%d", hdr.Devmajor, hdr.Devminor)
		}
		var keys []string
		for k := range hdr.PAXRecords {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			line += fmt.Sprintf(" %s=%q", k, hdr.PAXRecords[k])
		}
		out = append(out, line)
	}
}

// headers returns every header of a tar.
func headers(t *testing.T, data []byte) []*tar.Header {
	t.Helper()
	var out []*tar.Header
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, hdr)
	}
}

// sandbox returns a directory to apply into, inside a parent that holds
// nothing else, so that anything written outside it can be seen.
func sandbox(t *testing.T) (parent, dir string) {
	t.Helper()
	parent = t.TempDir()
	dir = filepath.Join(parent, "root")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return parent, dir
}

func checkNothingOutside(t *testing.T, parent string) {
	t.Helper()
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "root" {
			t.Errorf("%s was written outside the directory", filepath.Join(parent, e.Name()))
		}
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func lstat(t *testing.T, p string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

func xattr(p, name string) string {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

func errContains(err error, s string) bool { return err != nil && strings.Contains(err.Error(), s) }
