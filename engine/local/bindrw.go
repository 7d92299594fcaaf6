package local

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/imgc-dev/imgc/internal/overlay"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
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
	view, undo, err := writableView(tb.b.s, src)
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
// copy; either keeps the source's owner and mode. They are made in the
// store's temp dir (where /tmp may itself be an overlay). done removes what
// it made.
func writableView(s *store.Store, src string) (string, func(), error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", nil, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", nil, fmt.Errorf("reading the owner of %s", src)
	}
	tmp, err := s.TempDir("rw-")
	if err != nil {
		return "", nil, err
	}
	// Outside src: overlayfs refuses layers nested in one another.
	if r, err := filepath.Rel(src, tmp); err == nil && !strings.HasPrefix(r, "..") {
		os.Remove(tmp)
		if tmp, err = os.MkdirTemp("/run", "imgc-rw-"); err != nil {
			return "", nil, err
		}
	}
	cleanup := func() { os.RemoveAll(tmp) }
	if !fi.IsDir() {
		dst := filepath.Join(tmp, "file")
		if err := copyFileAs(src, dst, fi.Mode(), st); err != nil {
			cleanup()
			return "", nil, err
		}
		return dst, cleanup, nil
	}
	upper, work, view := filepath.Join(tmp, "upper"), filepath.Join(tmp, "work"), filepath.Join(tmp, "view")
	for _, d := range []string{upper, work, view} {
		if err := os.Mkdir(d, 0o755); err != nil {
			cleanup()
			return "", nil, err
		}
	}
	// The overlay's root has the upper dir's owner and mode: the source's,
	// so that a step that may write at the top of the source may here too.
	// Chown first: it clears setuid and setgid.
	if err := chownChmod(upper, st, fi.Mode()); err != nil {
		cleanup()
		return "", nil, err
	}
	// Volatile: the upper dir is thrown away, so its unmount need not sync.
	if err := overlay.MountVolatile(view, []string{src}, upper, work); err != nil {
		cleanup()
		return "", nil, err
	}
	return view, func() {
		overlay.Unmount(view)
		cleanup()
	}, nil
}

// copyFileAs copies the regular file src to the new file dst, streaming,
// and gives it the source's owner and mode (special bits included).
func copyFileAs(src, dst string, mode os.FileMode, st *syscall.Stat_t) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return chownChmod(dst, st, mode)
}

func chownChmod(p string, st *syscall.Stat_t, mode os.FileMode) error {
	if err := os.Lchown(p, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	return os.Chmod(p, mode&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky))
}
