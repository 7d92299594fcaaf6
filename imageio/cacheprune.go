package imageio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// A cache directory (type=local or oci) keeps the blobs of its last two
// exports and no others. Exports into one directory take its lock
// (cacheDirLock) for the whole export, so one export's new blobs are never
// pruned by another before its index.json names them. Readers take no
// lock (a cache may be on read-only storage): a reader that read
// index.json just before an export still finds every blob it names, as
// the export after keeps the blobs of the index it replaced; only a reader
// still downloading across two further exports can miss a blob, which it
// refuses with a warning and builds (as for any missing blob).
const cacheDirLock = ".imgc-cache.lock"

// lockCacheDir takes dir's export lock, waiting for other exports.
func lockCacheDir(ctx context.Context, dir string) (func(), error) {
	unlock, err := lockFile(ctx, filepath.Join(dir, cacheDirLock), false)
	if err != nil {
		return nil, fmt.Errorf("locking the cache directory: %w", err)
	}
	return unlock, nil
}

// lockFile takes the flock of the file at path, shared or alone, waiting
// for its holders (or ctx), and returns its release.
func lockFile(ctx context.Context, path string, shared bool) (func(), error) {
	l := flock.New(path)
	try := l.TryLockContext
	if shared {
		try = l.TryRLockContext
	}
	ok, err := try(ctx, 20*time.Millisecond)
	if err == nil && !ok {
		err = errors.New("not locked")
	}
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { l.Unlock() }, nil
}

// layoutReferences returns the blobs the index.json of the layout at dir
// names through imgc caches (each cache's manifest, config and layers).
// foreign is true when the index names anything else, or cannot be read:
// such a directory is never pruned.
func layoutReferences(dir string) (refs map[v1.Hash]bool, foreign bool) {
	refs = map[v1.Hash]bool{}
	data, err := readBounded(filepath.Join(dir, "index.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return refs, false
	}
	if err != nil {
		return nil, true
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(data))
	if err != nil {
		return nil, true
	}
	open := func(ctx context.Context, d v1.Hash) (io.ReadCloser, error) {
		return os.Open(filepath.Join(dir, "blobs", d.Algorithm, d.Hex))
	}
	for _, d := range idx.Manifests {
		if d.ArtifactType != CacheArtifactType {
			return nil, true
		}
		refs[d.Digest] = true
		if d.Size > maxCacheDocument {
			continue
		}
		raw, err := readVerified(context.Background(), open, d)
		if err != nil {
			continue
		}
		var m v1.Manifest
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		refs[m.Config.Digest] = true
		for _, l := range m.Layers {
			refs[l.Digest] = true
		}
	}
	return refs, false
}

// pruneCacheLayout removes the blobs under dir's blobs/sha256 that keep
// lacks, and the temporary files of killed exports (the caller holds the
// export lock, so no export is writing).
func pruneCacheLayout(dir string, keep map[v1.Hash]bool) error {
	blobs := filepath.Join(dir, "blobs", "sha256")
	des, err := os.ReadDir(blobs)
	if err != nil {
		return err
	}
	for _, de := range des {
		n := de.Name()
		stale := strings.HasPrefix(n, ".imgc-")
		if h, err := v1.NewHash("sha256:" + n); err == nil {
			stale = !keep[h]
		}
		if stale && de.Type().IsRegular() {
			if err := os.Remove(filepath.Join(blobs, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("pruning the cache directory: %w", err)
			}
		}
	}
	return nil
}

// replaceInIndex writes dir's index.json with desc in place of the
// manifests replaces selects, keeping the others (a layout that also
// holds images, or BuildKit's caches, keeps them). It holds the lock
// BuildKit takes to change an index.json (index.json.lock), so that an
// export of BuildKit's into the same directory is not lost.
func replaceInIndex(ctx context.Context, dir string, desc v1.Descriptor, replaces func(v1.Descriptor) bool) error {
	unlock, err := lockFile(ctx, filepath.Join(dir, "index.json.lock"), false)
	if err != nil {
		return err
	}
	defer unlock()
	manifests := []v1.Descriptor{}
	if data, err := readBounded(filepath.Join(dir, "index.json")); err == nil {
		if idx, err := v1.ParseIndexManifest(bytes.NewReader(data)); err == nil {
			for _, d := range idx.Manifests {
				if !replaces(d) {
					manifests = append(manifests, d)
				}
			}
		}
	}
	idx, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: append(manifests, desc)})
	if err != nil {
		return err
	}
	return writeAtomically(filepath.Join(dir, "index.json"), func(w io.Writer) error {
		_, err := w.Write(idx)
		return err
	})
}
