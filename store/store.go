package store

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Store is imgc's cache directory. See the package documentation for its
// layout on disk. A Store is safe for concurrent use, also by several
// processes sharing the directory.
type Store struct {
	dir string
	oci layout.Path
	mu  sync.Mutex // serialises index.json updates within the process
	// unpack bounds unpacking base image layers (see SetUnpackLimits).
	unpack UnpackLimits
	// fetch downloads remote blobs (see SetBlobFetcher).
	fetch BlobFetcher
	// blobWrites counts the blobs this process put in place (BlobWrites).
	blobWrites atomic.Int64
}

// BlobWrites is how many blobs this process has put in the store so far: a
// build that flushed the store before writing its outputs flushes it again
// at its end only if this moved (an output's remote layers downloaded).
func (s *Store) BlobWrites() int64 { return s.blobWrites.Load() }

// Open opens the cache directory dir, creating it when missing.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("opening cache dir %s: %w", dir, err)
	}
	for _, sub := range []string{"oci/blobs/sha256", "keys", "snapshots", "builds", "mounts/cache", "locks", "tmp", "downloads", "exports"} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o755); err != nil {
			return nil, fmt.Errorf("opening cache dir %s: %w", dir, err)
		}
	}
	s := &Store{dir: abs, oci: layout.Path(filepath.Join(abs, "oci"))}
	if err := s.initLayout(); err != nil {
		return nil, fmt.Errorf("opening cache dir %s: %w", dir, err)
	}
	return s, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(elem ...string) string {
	return filepath.Join(append([]string{s.dir}, elem...)...)
}

func (s *Store) initLayout() error {
	if err := writeFileIfMissing(s.path("oci", "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	empty, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}})
	if err != nil {
		return err
	}
	return writeFileIfMissing(s.path("oci", "index.json"), empty)
}

func writeFileIfMissing(path string, data []byte) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	return writeFileAtomic(path, data)
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory and a rename, so readers see the old or the new content only.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// TempDir makes a fresh directory under tmp/, which Prune empties.
func (s *Store) TempDir(prefix string) (string, error) {
	return os.MkdirTemp(s.path("tmp"), prefix)
}

// TempFile makes a fresh file under tmp/ (pattern as os.CreateTemp's).
func (s *Store) TempFile(pattern string) (*os.File, error) {
	return os.CreateTemp(s.path("tmp"), pattern)
}

// EmptyDir returns an empty directory: the filesystem of an image without
// layers.
func (s *Store) EmptyDir() (string, error) {
	empty := s.path("empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		return "", err
	}
	return empty, nil
}

// CacheMountDir is where the persistent cache mount called name lives
// (name is a single path element).
func (s *Store) CacheMountDir(name string) string {
	return s.path("mounts", "cache", name)
}

// DownloadPath is where a download whose content has digest h is kept.
func (s *Store) DownloadPath(h v1.Hash) string {
	return s.path("downloads", h.Hex)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
