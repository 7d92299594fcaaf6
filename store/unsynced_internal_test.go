package store

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func markers(t *testing.T, s *Store) []string {
	t.Helper()
	ents, err := os.ReadDir(s.path("unsynced"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if filepath.Ext(e.Name()) != ".lock" {
			names = append(names, e.Name())
		}
	}
	return names
}

// crashed leaves a marker as a build cut short by a crash at start would.
func crashed(t *testing.T, s *Store, start time.Time) {
	t.Helper()
	m, err := s.MarkUnsynced()
	if err != nil {
		t.Fatal(err)
	}
	m.Done(false)
	if err := os.WriteFile(m.path, []byte(strconv.FormatInt(start.UnixNano(), 10)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestUnsyncedMarker(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.MarkUnsynced()
	if err != nil {
		t.Fatal(err)
	}
	if got := markers(t, s); len(got) != 1 {
		t.Fatalf("markers while building = %v, want one", got)
	}
	// A live build's marker is left alone.
	if removed, err := s.RecoverUnsynced(); err != nil || len(removed) > 0 || len(markers(t, s)) != 1 {
		t.Fatalf("RecoverUnsynced with a live build: removed %v, err %v, markers %v", removed, err, markers(t, s))
	}
	m.Done(true)
	if got := markers(t, s); len(got) != 0 {
		t.Errorf("markers after a flushed build = %v, want none", got)
	}
	m, err = s.MarkUnsynced()
	if err != nil {
		t.Fatal(err)
	}
	m.Done(false)
	if got := markers(t, s); len(got) != 1 {
		t.Errorf("markers after a build whose flush failed = %v, want its own", got)
	}
}

// TestRecoverUnsynced: after a crash (a marker from before the last boot)
// the snapshots changed since its start and the blobs whose content no
// longer matches their digest go; a marker from since the boot (a killed
// build: the page cache kept its writes) only goes itself.
func TestRecoverUnsynced(t *testing.T) {
	boot, err := bootTime()
	if err != nil {
		t.Skipf("no boot time on this machine: %v", err)
	}
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	good, err := s.PutBlob([]byte("a layer\n"))
	if err != nil {
		t.Fatal(err)
	}
	lost := v1.Hash{Algorithm: "sha256", Hex: "ab" + good.Hex[2:]}
	if err := os.WriteFile(s.BlobPath(lost), nil, 0o644); err != nil { // written, then lost to the crash
		t.Fatal(err)
	}
	snap := s.SnapshotDir(v1.Hash{Algorithm: "sha256", Hex: good.Hex})
	if err := os.MkdirAll(filepath.Join(snap, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}

	crashed(t, s, time.Now()) // killed, no crash: nothing is lost
	if removed, err := s.RecoverUnsynced(); err != nil || len(removed) > 0 {
		t.Fatalf("RecoverUnsynced after a kill: removed %v, err %v; want nothing", removed, err)
	}
	if got := markers(t, s); len(got) != 0 {
		t.Errorf("markers after recovery = %v, want none", got)
	}

	crashed(t, s, boot.Add(-time.Minute))
	removed, err := s.RecoverUnsynced()
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(removed)
	want := []string{"blobs/sha256/" + lost.Hex, "snapshots/" + good.Hex}
	if diff := cmp.Diff(want, removed); diff != "" {
		t.Errorf("RecoverUnsynced after a crash removed (-want +got):\n%s", diff)
	}
	if !s.HasBlob(good) || s.HasBlob(lost) || s.HasSnapshot(v1.Hash{Algorithm: "sha256", Hex: good.Hex}) {
		t.Errorf("after recovery: good blob %v (want kept), lost blob %v (want gone), snapshot %v (want gone)",
			s.HasBlob(good), s.HasBlob(lost), s.HasSnapshot(v1.Hash{Algorithm: "sha256", Hex: good.Hex}))
	}
	if got := markers(t, s); len(got) != 0 {
		t.Errorf("markers after recovery = %v, want none", got)
	}
}
