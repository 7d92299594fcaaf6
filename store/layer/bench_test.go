package layer_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgc-dev/imgc/store/layer"
)

// benchTree makes 2000 files of 16 KiB in 40 directories (32 MiB).
func benchTree(b *testing.B) string {
	b.Helper()
	d := b.TempDir()
	data := bytes.Repeat([]byte("imgc"), 4096)
	for i := 0; i < 2000; i++ {
		p := filepath.Join(d, fmt.Sprintf("d%02d/f%04d", i%40, i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return d
}

func BenchmarkWriteUpperDir(b *testing.B) {
	d := benchTree(b)
	b.SetBytes(2000 * 16384)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := layer.WriteUpperDir(io.Discard, d, layer.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkApply(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to set owners")
	}
	var buf bytes.Buffer
	if _, err := layer.WriteUpperDir(&buf, benchTree(b), layer.Options{}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		if err := layer.Apply(bytes.NewReader(buf.Bytes()), dir, layer.ApplyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
