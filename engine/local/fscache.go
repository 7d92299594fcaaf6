package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/internal/overlay"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// snapshots returns the lower dirs for the next layer of tb, top first,
// unpacking any that are missing. It remembers the dirs of the layers it
// has seen (a snapshot stays for the build: prune waits for builds), so a
// step looks only at the layers added since the last, not at every layer
// below it again.
func (tb *targetBuild) snapshots(ctx context.Context) ([]string, error) {
	sn := &tb.snaps
	if !sn.base {
		// A base layer that cannot be unpacked is the base's fault: say so.
		dirs, err := tb.b.s.Snapshots(ctx, tb.st.Layers)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, &engine.StepError{Target: tb.t.Name, Key: tb.t.Base.Key, Origins: []ir.Origin{tb.t.Base.Origin}, Err: fmt.Errorf("base image %s: %w", baseName(tb.t.Base), err)}
		}
		sn.bottomFirst = appendReversed(nil, dirs)
		sn.base = true
	}
	var chain []store.Layer
	for _, f := range tb.layers[sn.seen:] {
		if f.empty {
			continue
		}
		if tb.b.s.HasSnapshot(f.diff) {
			// Kept from its upper dir: the blob may still be compressing,
			// and is not needed.
			chain = append(chain, store.Layer{DiffID: f.diff})
			continue
		}
		if err := f.wait(); err != nil {
			return nil, err
		}
		chain = append(chain, f.cl)
	}
	if err := tb.b.imports.fetchChain(ctx, chain); err != nil {
		return nil, err
	}
	dirs, err := tb.b.s.Snapshots(ctx, chain)
	if err != nil {
		return nil, err
	}
	sn.bottomFirst = appendReversed(sn.bottomFirst, dirs)
	sn.seen = len(tb.layers)
	// Layers with equal diffs share a snapshot, and overlayfs refuses a
	// lower dir given twice: keep the topmost copy, as store.Snapshots
	// does.
	top := make([]string, 0, len(sn.bottomFirst))
	seen := make(map[string]bool, len(sn.bottomFirst))
	for i := len(sn.bottomFirst) - 1; i >= 0; i-- {
		if d := sn.bottomFirst[i]; !seen[d] {
			seen[d] = true
			top = append(top, d)
		}
	}
	return top, nil
}

// snapshotDirs is what targetBuild.snapshots has seen: the dirs of the
// base's layers and of the first seen built layers, bottom first.
type snapshotDirs struct {
	base        bool
	seen        int
	bottomFirst []string
}

func appendReversed(to, dirs []string) []string {
	for i := len(dirs) - 1; i >= 0; i-- {
		to = append(to, dirs[i])
	}
	return to
}

// fsCache holds read-only mounts of built targets' filesystems for copies
// and bind mounts from them, for the duration of a build.
type fsCache struct {
	s      *store.Store
	mu     sync.Mutex
	mounts map[string]*fsMount
	// fetch downloads the blobs of a chain reused from an imported cache
	// without downloading (sharedCache.fetchChain).
	fetch func(context.Context, []store.Layer) error
}

type fsMount struct {
	once sync.Once
	root string
	dir  string // the mount's temp dir, "" when root is no mount
	err  error
}

// root returns a directory holding the merged filesystem of the built
// target r, mounted read-only on first use.
func (c *fsCache) root(ctx context.Context, name string, r *targetResult) (string, error) {
	c.mu.Lock()
	m := c.mounts[name]
	if m == nil {
		m = &fsMount{}
		c.mounts[name] = m
	}
	c.mu.Unlock()
	m.once.Do(func() {
		if c.fetch != nil {
			if m.err = c.fetch(ctx, r.state.Layers); m.err != nil {
				return
			}
		}
		m.root, m.dir, m.err = mountChain(ctx, c.s, r.state.Layers)
	})
	return m.root, m.err
}

func (c *fsCache) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.mounts {
		if m.dir != "" {
			overlay.Unmount(m.root)
			os.RemoveAll(m.dir)
		}
	}
	c.mounts = map[string]*fsMount{}
}

// mountChain mounts the filesystem of chain (bottom first) read-only and
// returns its root and the temp dir to remove after unmounting ("" when
// nothing was mounted: an empty chain is an empty directory).
func mountChain(ctx context.Context, s *store.Store, chain []store.Layer) (root, tmp string, err error) {
	lowers, err := s.Snapshots(ctx, chain)
	if err != nil {
		return "", "", err
	}
	return mountLowers(s, lowers)
}

// mountLowers mounts the lower dirs lowers (top first) read-only, as
// mountChain does.
func mountLowers(s *store.Store, lowers []string) (root, tmp string, err error) {
	if len(lowers) == 0 {
		empty, err := s.EmptyDir()
		return empty, "", err
	}
	tmp, err = s.TempDir("ro-")
	if err != nil {
		return "", "", err
	}
	root = filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(root, 0o755); err != nil {
		os.RemoveAll(tmp)
		return "", "", err
	}
	if err := overlay.Mount(root, lowers, "", ""); err != nil {
		os.RemoveAll(tmp)
		return "", "", err
	}
	return root, tmp, nil
}

func baseName(b ir.Base) string {
	if b.Kind == ir.BaseTarget {
		return b.Target
	}
	return b.Ref.String()
}
