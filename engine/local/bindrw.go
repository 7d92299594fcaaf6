package local

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/imgc-dev/imgc/internal/overlay"
)

// writableView makes a bind mount's source writable for one step without
// changing it, as BuildKit's rw bind mounts are: a directory gets an
// overlay whose upper layer is thrown away afterwards, a file a private
// copy. done removes what it made.
func writableView(src string) (string, func(), error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", nil, err
	}
	// Outside src: overlayfs refuses layers nested in one another.
	parent := os.TempDir()
	if r, err := filepath.Rel(src, parent); err == nil && !strings.HasPrefix(r, "..") {
		parent = "/run"
	}
	tmp, err := os.MkdirTemp(parent, "imgc-rw-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	if !fi.IsDir() {
		data, err := os.ReadFile(src)
		if err == nil {
			err = os.WriteFile(filepath.Join(tmp, "file"), data, fi.Mode().Perm())
		}
		if err != nil {
			cleanup()
			return "", nil, err
		}
		return filepath.Join(tmp, "file"), cleanup, nil
	}
	upper, work, view := filepath.Join(tmp, "upper"), filepath.Join(tmp, "work"), filepath.Join(tmp, "view")
	for _, d := range []string{upper, work, view} {
		if err := os.Mkdir(d, 0o755); err != nil {
			cleanup()
			return "", nil, err
		}
	}
	if err := overlay.Mount(view, []string{src}, upper, work); err != nil {
		cleanup()
		return "", nil, err
	}
	return view, func() {
		overlay.Unmount(view)
		cleanup()
	}, nil
}
