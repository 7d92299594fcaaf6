package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/internal/overlay"
)

// Prune empties the cache: every blob no stored image needs, all
// snapshots, cache mounts, downloads and temporary files. Cache index
// entries stay (a later plan reports them as pruned). It waits for running
// builds sharing the directory.
func (s *Store) Prune() (freed int64, err error) {
	lk := s.storeLock()
	if err := lk.Lock(); err != nil {
		return 0, fmt.Errorf("locking the cache: %w", err)
	}
	defer lk.Unlock()
	// No build runs now: mounts and locks left under the directory are
	// those of killed builds.
	s.unmountStale()
	before, err := s.DiskUsage()
	if err != nil {
		return 0, err
	}
	keep := map[v1.Hash]bool{}
	m, err := s.readIndex()
	if err != nil {
		return 0, err
	}
	for _, d := range m.Manifests {
		s.keepImage(d.Digest, keep)
	}
	blobs, err := os.ReadDir(s.path("oci", "blobs", "sha256"))
	if err != nil {
		return 0, fmt.Errorf("pruning: %w", err)
	}
	for _, b := range blobs {
		if !keep[v1.Hash{Algorithm: "sha256", Hex: b.Name()}] {
			if err := os.Remove(filepath.Join(s.path("oci", "blobs", "sha256"), b.Name())); err != nil {
				return 0, fmt.Errorf("pruning: %w", err)
			}
		}
	}
	// Records of remote blobs no stored image lists any more.
	remote, _ := os.ReadDir(s.path("remote", "sha256"))
	for _, r := range remote {
		if hex, ok := strings.CutSuffix(r.Name(), ".json"); !ok || !keep[v1.Hash{Algorithm: "sha256", Hex: hex}] {
			os.Remove(filepath.Join(s.path("remote", "sha256"), r.Name()))
		}
	}
	locks, err := os.ReadDir(s.path("locks"))
	if err != nil {
		return 0, fmt.Errorf("pruning: %w", err)
	}
	for _, l := range locks {
		if strings.HasPrefix(l.Name(), "key-") || strings.HasPrefix(l.Name(), "snap-") || strings.HasPrefix(l.Name(), "blob-") {
			os.Remove(filepath.Join(s.path("locks"), l.Name()))
		}
	}
	for _, dir := range []string{"snapshots", "mounts/cache", "downloads", "tmp", "exports"} {
		des, err := os.ReadDir(s.path(dir))
		if err != nil {
			return 0, fmt.Errorf("pruning: %w", err)
		}
		for _, de := range des {
			if err := os.RemoveAll(filepath.Join(s.path(dir), de.Name())); err != nil {
				return 0, fmt.Errorf("pruning: %w", err)
			}
		}
	}
	after, err := s.DiskUsage()
	if err != nil {
		return 0, err
	}
	return before.Total - after.Total, nil
}

// unmountStale detaches every mount below the store's directory, deepest
// first.
func (s *Store) unmountStale() { overlay.UnmountBelow(s.dir) }

// keepImage marks the blobs of the stored image or index d, an index's
// images included.
func (s *Store) keepImage(d v1.Hash, keep map[v1.Hash]bool) {
	if keep[d] {
		return
	}
	keep[d] = true
	if isIndex, err := s.IsIndex(d); err == nil && isIndex {
		idx, err := s.Index(d)
		if err != nil {
			return
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return
		}
		for _, c := range im.Manifests {
			s.keepImage(c.Digest, keep)
		}
		return
	}
	img, err := s.Image(d)
	if err != nil {
		return
	}
	man, err := img.Manifest()
	if err != nil {
		return
	}
	keep[man.Config.Digest] = true
	for _, l := range man.Layers {
		keep[l.Digest] = true
	}
}
