package local

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/internal/par"
	"github.com/imgc-dev/imgc/store"
)

// flushStore flushes the store's filesystem if any of bs ran a step, once
// their images and records are in the store and before the outputs are
// written (which imgc, like docker build, does not flush: a large tar on a
// slow disk would otherwise be waited for). The markers stay until
// syncStore, which flushes again only if a blob was put in the store
// since (an output's layers downloaded from a registry cache); export
// records written since need no flush (a damaged one reads as none).
func flushStore(s *store.Store, bs ...*builder) error {
	if !anyUnsynced(bs) {
		return nil
	}
	for _, b := range bs {
		b.early.wait()
	}
	writes := s.BlobWrites()
	if err := flushFS(s.Dir()); err != nil {
		return fmt.Errorf("flushing the cache directory %s to disk: %w", s.Dir(), err)
	}
	for _, b := range bs {
		b.flushedAt = writes
	}
	return nil
}

func anyUnsynced(bs []*builder) bool {
	for _, b := range bs {
		if b.unsynced.Load() != nil {
			return true
		}
	}
	return false
}

// syncStore ends a build: it flushes the store's filesystem if any of bs
// ran a step and flushStore did not cover what the store holds now, then
// removes their store.Unsynced markers (left, for RecoverUnsynced, when
// the flush fails).
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
	for _, b := range bs {
		b.removals.Wait()
	}
	var marks []*store.Unsynced
	covered := true
	for _, b := range bs {
		if m := b.unsynced.Swap(nil); m != nil {
			marks = append(marks, m)
			covered = covered && b.flushedAt == s.BlobWrites()
		}
	}
	if len(marks) == 0 {
		return nil
	}
	for _, b := range bs {
		b.early.wait()
	}
	var err error
	if !covered {
		err = flushFS(s.Dir())
	}
	for _, m := range marks {
		m.Done(err == nil)
	}
	if err != nil {
		return fmt.Errorf("flushing the cache directory %s to disk: %w", s.Dir(), err)
	}
	return nil
}

// longStep is how long a step runs before its files are written back
// while the build goes on (earlyFlush): a step that ran this long likely
// wrote a lot, and a trivial one should not pay for a flush.
const longStep = time.Second

// earlyFlush syncs the store's filesystem on a goroutine of its own after
// a long step (see after), while the build goes on (the step's layer is
// compressed, the next steps run), so that the flush before the outputs
// (flushStore) finds little left to write: a step that wrote 560 MB left
// 1-2 s of writing to the end of the build. It is only that: the marker
// stays until the build ends. (Flushing every second while such a step
// ran as well, to use the core it leaves idle, made the benchmark's build
// slower and less steady, 8.9-11.5 s against 8.4-8.6 s, and would write
// a compiler's short-lived files to disk; measured, not kept.)
type earlyFlush struct {
	mu          sync.Mutex
	busy, again bool
	flushes     int // done
	wg          sync.WaitGroup
}

// start begins a flush of dir, or one more after the one under way.
func (f *earlyFlush) start(dir string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy {
		f.again = true
		return
	}
	f.busy = true
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			_ = syncfs(dir) // the final flush reports errors
			f.mu.Lock()
			f.flushes++
			if !f.again {
				f.busy = false
				f.mu.Unlock()
				return
			}
			f.again = false
			f.mu.Unlock()
		}
	}()
}

// after starts a flush once a step that began at began has ended, if it
// ran for longStep or more and succeeded.
func (f *earlyFlush) after(dir string, began time.Time, ok bool) {
	if ok && time.Since(began) >= longStep {
		f.start(dir)
	}
}

// wait waits for the flush under way, if any; no step may be running.
func (f *earlyFlush) wait() { f.wg.Wait() }

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

// removeLater removes dir, a layer's work directory, on a goroutine of
// its own, which syncStore waits for when the build ends. The directory
// holds the step's upper dir when the layer's snapshot was there already
// (a step run again that wrote the same files, as a --no-cache build
// does): removing its 50,000 files took 0.9 s of CPU that the build
// waited for before its next step.
func (b *builder) removeLater(dir string) {
	b.removals.Add(1)
	go func() {
		defer b.removals.Done()
		removeTree(dir)
	}()
}

// removeTree removes dir and what it holds, as os.RemoveAll does, with
// its files removed on every core (one at a time, 50,000 files took a
// second). It follows no symlink, and leaves to os.RemoveAll what it
// could not remove.
func removeTree(dir string) {
	var files []string
	var walk func(d string)
	walk = func(d string) {
		des, err := os.ReadDir(d)
		if err != nil {
			return
		}
		for _, de := range des {
			p := filepath.Join(d, de.Name())
			if de.IsDir() {
				walk(p)
			} else {
				files = append(files, p)
			}
		}
	}
	walk(dir)
	par.For(len(files), func(i int) { unix.Unlinkat(unix.AT_FDCWD, files[i], 0) })
	os.RemoveAll(dir)
}

// flushFS is syncfs; tests count its calls.
var flushFS = syncfs

func syncfs(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}
