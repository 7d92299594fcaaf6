package store

import (
	"context"
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/internal/hashio"
	"github.com/imgc-dev/imgc/store/layer"
)

// SnapshotDir is the unpacked, overlay-ready form of the layer diffID.
func (s *Store) SnapshotDir(diffID v1.Hash) string {
	return s.path("snapshots", diffID.Hex)
}

// HasSnapshot tells whether the layer diffID is unpacked.
func (s *Store) HasSnapshot(diffID v1.Hash) bool {
	return exists(s.SnapshotDir(diffID))
}

// AdoptSnapshot keeps dir, a directory holding the layer diffID in overlay
// form (an overlay upper dir), as its snapshot, unless it has one already.
func (s *Store) AdoptSnapshot(dir string, diffID v1.Hash) error {
	snap := s.SnapshotDir(diffID)
	if exists(snap) {
		return nil
	}
	if err := os.Rename(dir, snap); err != nil && !exists(snap) {
		return fmt.Errorf("keeping snapshot: %w", err)
	}
	return nil
}

// Snapshots ensures the snapshots of chain (bottom first), unpacking any
// that are missing, and returns their dirs top first, as overlay lower
// dirs. Base layers unpack within the store's UnpackLimits.
func (s *Store) Snapshots(ctx context.Context, chain []Layer) ([]string, error) {
	dirs := make([]string, len(chain))
	b := s.imageBudget(chain)
	for i, l := range chain {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, err := s.ensureSnapshot(l, b)
		if err != nil {
			return nil, err
		}
		dirs[len(chain)-1-i] = d
	}
	// Layers with equal diffs share a snapshot, and overlayfs refuses a
	// lower dir given twice (ELOOP). Keeping only the topmost copy gives the
	// same view: whatever the lower copy sets or hides, the upper one sets
	// or hides again.
	seen := make(map[string]bool, len(dirs))
	top := dirs[:0]
	for _, d := range dirs {
		if !seen[d] {
			seen[d] = true
			top = append(top, d)
		}
	}
	return top, nil
}

// ensureSnapshot unpacks layer l into snapshots/<diff id> unless it is
// there, verifying the diff id and counting what it unpacks against b,
// and returns the directory.
func (s *Store) ensureSnapshot(l Layer, b *imageBudget) (string, error) {
	dir := s.SnapshotDir(l.DiffID)
	if exists(dir) {
		return dir, nil
	}
	lk, err := s.Lock("snap-" + l.DiffID.Hex)
	if err != nil {
		return "", err
	}
	defer lk.Unlock()
	if exists(dir) {
		return dir, nil
	}
	tmp, err := s.TempDir("snap-")
	if err != nil {
		return "", err
	}
	if err := s.unpackLayer(l, b, tmp); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("unpacking layer %s: %w", l.Digest, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("unpacking layer %s: %w", l.Digest, err)
	}
	return dir, nil
}

// unpackLayer unpacks l into dir within the bounds of b and verifies that
// its content hashes to its diff id.
func (s *Store) unpackLayer(l Layer, b *imageBudget, dir string) error {
	rc, err := s.OpenLayer(l)
	if err != nil {
		return err
	}
	defer rc.Close()
	hw := hashio.NewWriter(io.Discard)
	tee := io.TeeReader(rc, hw)
	var stats layer.ApplyStats
	maxSize := s.layerMax(l, b)
	if err := layer.Apply(tee, dir, layer.ApplyOptions{MaxSize: maxSize, Stats: &stats}); err != nil {
		return s.tooLarge(err, l, b)
	}
	// What follows the tar's end counts too: gigabytes of zeros there
	// would take long to hash.
	rest := io.Reader(tee)
	if maxSize > 0 {
		rest = io.LimitReader(tee, maxSize-stats.Size+1)
	}
	n, err := io.Copy(io.Discard, rest)
	if err != nil {
		return err
	}
	if maxSize > 0 && stats.Size+n > maxSize {
		err := fmt.Errorf("data after the end of the tar: %w of %d bytes", layer.ErrTooLarge, maxSize)
		return s.tooLarge(err, l, b)
	}
	if l.FromBase {
		b.used += stats.Size + n
	}
	if got := hw.Sum(); got != l.DiffID {
		return fmt.Errorf("its content hashes to %s, the config says %s", got, l.DiffID)
	}
	return nil
}
