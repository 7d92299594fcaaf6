package local

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/store"
)

// syncStore flushes the store's filesystem once if any of bs ran a step,
// then removes their store.Unsynced markers (left, for RecoverUnsynced,
// when the flush fails).
//
// Steps run over volatile overlays (overlay.MountVolatile). A writable
// overlay's unmount otherwise syncs the whole filesystem of its upper dir
// (the store's), once per step: measured at 7-10 ms per step on a quiet
// disk and up to a quarter of a second on a busy one. A killed build loses
// nothing by it: the store writes every blob, snapshot and record under a
// temporary name and renames it into place, and a killed process loses
// nothing from the page cache. A power loss or kernel crash can: a
// snapshot renamed into place whose files never reached the disk. The
// marker a build leaves before its first step (builder.markUnsynced) lets
// the next build after such a crash remove what may be lost
// (recoverUnsynced); a finished build is on disk as before.
func syncStore(s *store.Store, bs ...*builder) error {
	var marks []*store.Unsynced
	for _, b := range bs {
		if m := b.unsynced.Load(); m != nil {
			marks = append(marks, m)
		}
	}
	if len(marks) == 0 {
		return nil
	}
	err := syncfs(s.Dir())
	for _, m := range marks {
		m.Done(err == nil)
	}
	if err != nil {
		return fmt.Errorf("flushing the cache directory %s to disk: %w", s.Dir(), err)
	}
	return nil
}

// markUnsynced leaves the store's marker before b's first step runs over
// a volatile overlay (see syncStore).
func (b *builder) markUnsynced() error {
	b.unsyncedOnce.Do(func() {
		m, err := b.s.MarkUnsynced()
		if err != nil {
			b.unsyncedErr = err
			return
		}
		b.unsynced.Store(m)
	})
	return b.unsyncedErr
}

// lockForBuild takes the store's lock shared for a build, first removing
// what a build cut short by a crash may have lost (store.RecoverUnsynced),
// which it says on o's progress.
func (e *Engine) lockForBuild(o engine.BuildOptions) (unlock func(), err error) {
	removed, err := e.s.RecoverUnsynced()
	if err != nil {
		return nil, err
	}
	if len(removed) > 0 && o.Progress != nil {
		o.Progress(engine.Event{Time: time.Now(), Kind: "warning", Line: fmt.Sprintf(
			"a build was cut short by a crash or power loss since it wrote to the cache; removed %d snapshots and blobs it may have left incomplete (they are made again as needed)", len(removed))})
	}
	return e.s.LockShared()
}

func syncfs(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}
