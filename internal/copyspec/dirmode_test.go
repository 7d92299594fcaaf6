package copyspec

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// A directory source's contents are copied, not the directory: its own
// mode does not reach the destination (Docker makes that 0755), while the
// modes of directories inside it do.
func TestDirectorySourceModeIsNotCopied(t *testing.T) {
	root := tree(t, "src/sub/f")
	if err := os.Chmod(filepath.Join(root, "src"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "src/sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	files, err := Resolve(root, []string{"src"}, "/dest/", Options{})
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]fs.FileMode{}
	for _, f := range files {
		modes[f.Dst] = f.Mode
	}
	if got := modes["/dest"]; got != fs.ModeDir|0o755 {
		t.Errorf("/dest mode = %v, want drwxr-xr-x", got)
	}
	if got := modes["/dest/sub"]; got != fs.ModeDir|0o750 {
		t.Errorf("/dest/sub mode = %v, want drwxr-x---", got)
	}
}
