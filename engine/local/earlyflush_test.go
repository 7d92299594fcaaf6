package local

import (
	"testing"
	"time"
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
	time.Sleep(longStep + longStep/4)
	stop(true)
	long.wait()
	if long.flushes == 0 {
		t.Errorf("a step of %v flushed nothing", longStep+longStep/4)
	}
}
