package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestOpenPlanned: a file to copy that changed since the plan listed it
// fails as changed, without following a symlink that took its place or
// waiting on a FIFO.
func TestOpenPlanned(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	for _, tc := range []struct {
		name string
		make func() error
		want string
	}{
		{"unchanged", func() error { return os.WriteFile(p, []byte("abc"), 0o644) }, ""},
		{"grown", func() error { return os.WriteFile(p, []byte("abcd"), 0o644) }, "(size 4, planned 3)"},
		{"removed", func() error { return nil }, "(it was removed)"},
		{"symlink", func() error { return os.Symlink("/etc/hostname", p) }, "(it is now a symlink)"},
		{"fifo", func() error { return unix.Mkfifo(p, 0o644) }, "(it is no longer a regular file)"},
		{"directory", func() error { return os.Mkdir(p, 0o755) }, "(it is no longer a regular file)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.RemoveAll(p)
			if err := tc.make(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				f, err := openPlanned(p, 3)
				if f != nil {
					f.Close()
				}
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("openPlanned blocked")
			}
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("openPlanned: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "changed since it was planned")):
				t.Errorf("openPlanned error = %v, want one saying the file changed %s", err, tc.want)
			}
		})
	}
}
