package store

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/ir"
)

type lookup struct {
	Entry      Entry
	OK, Pruned bool
}

// TestSnapshotKeysAnswersAsLookupKey: a snapshot answers every key as
// LookupKey does (recorded, empty, pruned, never recorded), whether it
// listed the keys directory or, the directory being much larger than the
// keys asked for, looks each key up by itself.
func TestSnapshotKeysAnswersAsLookupKey(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	blob, err := s.PutBlob([]byte("layer"))
	if err != nil {
		t.Fatal(err)
	}
	key := func(i int) ir.CacheKey { return ir.KeyOf(fmt.Appendf(nil, "k%d", i)) }
	const recorded = 1200
	for i := range recorded {
		e := Entry{Digest: blob, Size: 5}
		switch i % 3 {
		case 1:
			e = Entry{Empty: true}
		case 2:
			e.Digest.Hex = fmt.Sprintf("%064x", i) // pruned: no such blob
		}
		if err := s.PutKey(key(i), e); err != nil {
			t.Fatal(err)
		}
	}
	var keys []ir.CacheKey
	for i := recorded - 30; i < recorded+30; i++ {
		keys = append(keys, key(i))
	}
	keys = append(keys, ir.CacheKey{})
	// A build's temporary file is no key.
	if err := os.WriteFile(filepath.Join(s.path("keys"), ".tmp-"+key(recorded).Hex()+".json-1"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// 1,000 keys: the directory is listed; 10: not.
	for _, n := range []int{1000, 10} {
		snap := s.SnapshotKeys(n)
		if listed := snap.recorded != nil; listed != (n == 1000) {
			t.Errorf("SnapshotKeys(%d) of %d keys: listed %v", n, recorded, listed)
		}
		for _, k := range keys {
			var want, got lookup
			want.Entry, want.OK, want.Pruned = s.LookupKey(k)
			got.Entry, got.OK, got.Pruned = snap.LookupKey(k)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("SnapshotKeys(%d).LookupKey(%s) differs from LookupKey (-want +got):\n%s", n, k.Short(), diff)
			}
		}
	}
}

// TestSnapshotKeysWithoutKeysDirectory: a cache without a keys directory
// (removed by hand) answers every key as not recorded.
func TestSnapshotKeysWithoutKeysDirectory(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "keys")); err != nil {
		t.Fatal(err)
	}
	if _, ok, pruned := s.SnapshotKeys(1).LookupKey(ir.KeyOf([]byte("k"))); ok || pruned {
		t.Errorf("a key of a cache without keys: ok %v, pruned %v; want neither", ok, pruned)
	}
}
