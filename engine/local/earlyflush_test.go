package local

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgc-dev/imgc/store"
)

// TestEarlyFlush: starts while a flush is under way coalesce into one
// more, and wait returns once the last has ended, leaving the flusher
// ready to start again.
func TestEarlyFlush(t *testing.T) {
	var f earlyFlush
	dir := t.TempDir()
	for range 3 {
		for range 4 {
			f.start(dir)
		}
		f.wait()
		f.mu.Lock()
		busy, again, n := f.busy, f.again, f.flushes
		f.mu.Unlock()
		if busy || again || n == 0 {
			t.Fatalf("after wait: busy %v, again %v, %d flushes; want neither, and some", busy, again, n)
		}
	}
}

// TestEarlyFlushAfterStep: a step shorter than longStep flushes nothing
// after it; one that ran longer and succeeded does, a failed one does not.
func TestEarlyFlushAfterStep(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		ran  time.Duration
		ok   bool
		want int
	}{{0, true, 0}, {2 * longStep, true, 1}, {2 * longStep, false, 0}} {
		var f earlyFlush
		f.after(dir, time.Now().Add(-tc.ran), tc.ok)
		f.wait()
		if f.flushes != tc.want {
			t.Errorf("a step of %v (ok %v) flushed %d times after it, want %d", tc.ran, tc.ok, f.flushes, tc.want)
		}
	}
}

// TestFlushBeforeOutputs: a build that ran a step flushes the store
// before its outputs (flushStore) and not again at its end unless a blob
// was put in the store since; its marker stays until the end either way.
// A build that failed before its outputs flushes at its end.
func TestFlushBeforeOutputs(t *testing.T) {
	flushes := 0
	defer func(f func(string) error) { flushFS = f }(flushFS)
	flushFS = func(dir string) error { flushes++; return syncfs(dir) }
	for _, tc := range []struct {
		name         string
		before, blob bool
		want         int
	}{
		{"outputs written", true, false, 1},
		{"a blob put in the store after the flush", true, true, 2},
		{"failed before its outputs", false, false, 1},
	} {
		flushes = 0
		s, err := store.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		b := &builder{s: s, flushedAt: -1}
		if err := b.markUnsynced(); err != nil {
			t.Fatal(err)
		}
		if tc.before {
			if err := flushStore(s, b); err != nil {
				t.Fatal(err)
			}
			if ents, _ := filepath.Glob(filepath.Join(s.Dir(), "unsynced", "*")); len(ents) == 0 {
				t.Errorf("%s: flushStore removed the marker", tc.name)
			}
		}
		if tc.blob {
			if _, err := s.PutBlob([]byte(tc.name)); err != nil {
				t.Fatal(err)
			}
		}
		if err := syncStore(s, b); err != nil {
			t.Fatal(err)
		}
		if flushes != tc.want {
			t.Errorf("%s: %d flushes, want %d", tc.name, flushes, tc.want)
		}
		if ents, _ := filepath.Glob(filepath.Join(s.Dir(), "unsynced", "*")); len(ents) != 0 {
			t.Errorf("%s: markers left: %v", tc.name, ents)
		}
	}
}

// TestRemoveTree checks removeTree, which removes a work directory's
// files on several goroutines: everything goes, and a symlink to a
// directory outside is removed, not followed.
func TestRemoveTree(t *testing.T) {
	outside := t.TempDir()
	keep := filepath.Join(outside, "keep")
	if err := os.WriteFile(keep, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "work")
	for i := range 600 {
		d := filepath.Join(dir, "upper", fmt.Sprintf("d%d", i%7), fmt.Sprintf("e%d", i%3))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%d", i)), nil, 0o400); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(dir, "empty", "deeper"), 0o755)
	if err := os.Symlink(outside, filepath.Join(dir, "upper", "out")); err != nil {
		t.Fatal(err)
	}
	removeTree(dir)
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("after removeTree, %s: %v, want it gone", dir, err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("removeTree followed a symlink out: %v", err)
	}
}
