package layer_test

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgc-dev/imgc/store/layer"
)

// FuzzApply unpacks arbitrary bytes as a layer tar: it must fail or
// succeed, never panic, write outside its directory, or unpack more than
// its bound.
func FuzzApply(f *testing.F) {
	if os.Geteuid() != 0 {
		f.Skip("needs root: whiteout devices, trusted.* xattrs and chown")
	}
	seeds := [][]file{
		{dir("a"), reg("a/b", "hello"), symlink("a/l", "b"), hardlink("a/h", "a/b")},
		{reg("x", "y"), reg(".wh.x", ""), dir("d"), reg("d/.wh..wh..opq", "")},
		{symlink("evil", "/"), reg("evil/etc/passwd", "x")},
		{reg("../x", "evil")},
	}
	for _, s := range seeds {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, fl := range s {
			h := fl.hdr
			tw.WriteHeader(&h)
			tw.Write([]byte(fl.content))
		}
		tw.Close()
		f.Add(buf.Bytes())
	}
	f.Add(sparseTar(f, 1<<40))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		d := filepath.Join(parent, "root")
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		const max = 8 << 20
		var stats layer.ApplyStats
		layer.Apply(bytes.NewReader(data), d, layer.ApplyOptions{MaxSize: max, Stats: &stats})
		// The bytes read, not the time taken: go test's timeout and the
		// fuzzer's own hang detection catch an input that never ends.
		if stats.Size > max+64<<10 {
			t.Errorf("unpacked %d bytes under a bound of %d", stats.Size, max)
		}
		if des, _ := os.ReadDir(parent); len(des) != 1 {
			t.Errorf("wrote %d entries beside the root", len(des))
		}
		layer.ApplyToRoot(bytes.NewReader(data), d, layer.ApplyOptions{MaxSize: max})
		if des, _ := os.ReadDir(parent); len(des) != 1 {
			t.Errorf("ApplyToRoot wrote %d entries beside the root", len(des))
		}
	})
}
