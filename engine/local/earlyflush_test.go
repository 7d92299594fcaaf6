package local

import (
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

// TestEarlyFlushDuringStep: a step shorter than longStep flushes nothing;
// one that ran longer flushes at least once more after it.
func TestEarlyFlushDuringStep(t *testing.T) {
	dir := t.TempDir()
	var short, long earlyFlush
	short.during(dir)(true)
	short.wait()
	if short.flushes != 0 {
		t.Errorf("a short step flushed %d times, want 0", short.flushes)
	}
	stop := long.during(dir)
	// The first second's flush starts while the step runs.
	for deadline := time.Now().Add(30 * longStep); ; time.Sleep(longStep / 20) {
		long.mu.Lock()
		started := long.busy || long.flushes > 0
		long.mu.Unlock()
		if started {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no flush started within %v of a step's start", 30*longStep)
		}
	}
	stop(true)
	long.wait()
	if long.flushes < 2 {
		t.Errorf("a step longer than %v flushed %d times, want one while it ran and one after", longStep, long.flushes)
	}
	if d := dirtyBytes(); d < 0 {
		t.Errorf("dirtyBytes: cannot read /proc/meminfo's Dirty")
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
