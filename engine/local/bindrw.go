package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/imgc-dev/imgc/internal/overlay"
	"github.com/imgc-dev/imgc/ir"
)

// bindMount is the runc mount of bind mount m at target: read-only, or,
// with rw (!ReadOnly), writable for the step with what it writes thrown
// away (BuildKit's ForceNoOutput). done undoes what it mounted.
func (tb *targetBuild) bindMount(ctx context.Context, m ir.Mount, target string) (specs.Mount, func(), error) {
	src, done, err := tb.bindSource(ctx, m)
	if err != nil {
		return specs.Mount{}, nil, err
	}
	if m.ReadOnly {
		return specs.Mount{Destination: target, Type: "bind", Source: src, Options: []string{"rbind", "ro"}}, done, nil
	}
	view, undo, err := writableView(src)
	if err != nil {
		done()
		return specs.Mount{}, nil, fmt.Errorf("bind mount of %q: %w", m.Source, err)
	}
	return specs.Mount{Destination: target, Type: "bind", Source: view, Options: []string{"rbind"}}, func() {
		undo()
		done()
	}, nil
}

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
