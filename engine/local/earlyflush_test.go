package local

import "testing"

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
		busy, again := f.busy, f.again
		f.mu.Unlock()
		if busy || again {
			t.Fatalf("after wait: busy %v, again %v; want neither", busy, again)
		}
	}
}
