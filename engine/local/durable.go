package local

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/store"
)

// syncStore flushes the store's filesystem once if any of bs ran a step.
//
// Steps run over volatile overlays (overlay.MountVolatile). A writable
// overlay's unmount otherwise syncs the whole filesystem of its upper dir
// (the store's), once per step: measured at 7-10 ms per step on a quiet
// disk and up to a quarter of a second on a busy one. The store never
// relied on that flush: it survives an interrupted or killed build by
// writing every blob, snapshot and record under a temporary name and
// renaming it into place, and a killed process loses nothing from the page
// cache. What the per-step flush did give is a bound on what a power loss
// or kernel crash could take back: now the kernel's own writeback bounds it
// (dirty data older than 30 s by default), and a build that ran steps
// flushes everything it wrote here, once, before it returns, so a finished
// build is on disk as before.
func syncStore(s *store.Store, bs ...*builder) error {
	for _, b := range bs {
		if b.unsynced.Load() {
			if err := syncfs(s.Dir()); err != nil {
				return fmt.Errorf("flushing the cache directory %s to disk: %w", s.Dir(), err)
			}
			return nil
		}
	}
	return nil
}

func syncfs(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}
