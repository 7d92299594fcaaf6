package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofrs/flock"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgc-dev/imgc/ir"
)

// refNameAnnotation names an image in an OCI layout's index.json.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// Store is imgc's cache directory. See the package documentation for its
// layout on disk. A Store is safe for concurrent use, also by several
// processes sharing the directory.
type Store struct {
	dir string
	oci layout.Path
	mu  sync.Mutex // serialises index.json updates within the process
	// unpack bounds unpacking base image layers (see SetUnpackLimits).
	unpack UnpackLimits
}

// keyEntry is one cache index entry: the layer a cache key produced.
type keyEntry struct {
	Digest    v1.Hash         `json:"digest"`
	DiffID    v1.Hash         `json:"diff_id"`
	Size      int64           `json:"size"`
	MediaType types.MediaType `json:"media_type"`
	Empty     bool            `json:"empty,omitempty"`
	// ParentChain identifies the content the layer was built on (the OCI
	// chain ID of the layers below it). Keys chain on keys, not content, so
	// after a layer below was rebuilt with new content (cache = false,
	// --no-cache), an entry built on the old content must not be reused.
	ParentChain string `json:"parent_chain,omitempty"`
	// Created is when the layer was built. A rebuild that reuses it keeps
	// this time in the history and the image's `created`, so rebuilding
	// an unchanged configuration gives the same image digest.
	Created time.Time `json:"created,omitempty"`
}

// builtOn tells whether the entry can be reused on top of the content
// chain (entries from before ParentChain was recorded are trusted).
func (e keyEntry) builtOn(chain string) bool {
	return e.ParentChain == "" || e.ParentChain == chain
}

// OpenStore opens the cache directory dir, creating it when missing.
func OpenStore(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("opening cache dir %s: %w", dir, err)
	}
	for _, sub := range []string{"oci/blobs/sha256", "keys", "snapshots", "builds", "mounts/cache", "locks", "tmp", "downloads"} {
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

// tempDir makes a fresh directory under tmp/.
func (s *Store) tempDir(prefix string) (string, error) {
	return os.MkdirTemp(s.path("tmp"), prefix)
}

func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// lock takes an exclusive file lock named name under locks/.
func (s *Store) lock(name string) (*flock.Flock, error) {
	l := flock.New(s.path("locks", name+".lock"))
	if err := l.Lock(); err != nil {
		return nil, fmt.Errorf("locking %s: %w", name, err)
	}
	return l, nil
}

// lockContext takes an exclusive file lock named name under locks/,
// waiting for it no longer than ctx allows (another build may hold it for
// as long as it takes to build a layer).
func (s *Store) lockContext(ctx context.Context, name string) (*flock.Flock, error) {
	l := flock.New(s.path("locks", name+".lock"))
	ok, err := l.TryLockContext(ctx, 20*time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", name, err)
	}
	if !ok {
		return nil, fmt.Errorf("locking %s: %w", name, ctx.Err())
	}
	return l, nil
}

// blobPath is where the blob with digest h lives.
func (s *Store) blobPath(h v1.Hash) string {
	return s.path("oci", "blobs", h.Algorithm, h.Hex)
}

func (s *Store) hasBlob(h v1.Hash) bool {
	_, err := os.Stat(s.blobPath(h))
	return err == nil
}

// putBlob stores data as a blob and returns its descriptor fields.
func (s *Store) putBlob(data []byte) (v1.Hash, error) {
	h, _, err := v1.SHA256(bytesReader(data))
	if err != nil {
		return v1.Hash{}, err
	}
	if s.hasBlob(h) {
		return h, nil
	}
	return h, writeFileAtomic(s.blobPath(h), data)
}

// putBlobStream copies r into the store, verifying it hashes to want (when
// want is set) and returns its digest and size.
func (s *Store) putBlobStream(r io.Reader, want v1.Hash) (v1.Hash, int64, error) {
	if want.Hex != "" && s.hasBlob(want) {
		fi, err := os.Stat(s.blobPath(want))
		if err == nil {
			return want, fi.Size(), nil
		}
	}
	f, err := os.CreateTemp(s.path("tmp"), "blob-")
	if err != nil {
		return v1.Hash{}, 0, err
	}
	defer os.Remove(f.Name())
	hw := newHashWriter(f)
	if _, err := io.Copy(hw, r); err != nil {
		f.Close()
		return v1.Hash{}, 0, err
	}
	if err := f.Close(); err != nil {
		return v1.Hash{}, 0, err
	}
	got := hw.Sum()
	if want.Hex != "" && got != want {
		return v1.Hash{}, 0, fmt.Errorf("blob digest mismatch: want %s, got %s", want, got)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return v1.Hash{}, 0, err
	}
	if err := os.Rename(f.Name(), s.blobPath(got)); err != nil {
		return v1.Hash{}, 0, err
	}
	return got, hw.n, nil
}

// keyPath is the cache index file of key k.
func (s *Store) keyPath(k ir.CacheKey) string {
	return s.path("keys", k.Hex()+".json")
}

// lookupKey returns the cache index entry of k; ok is false when k is not
// cached or its blob was pruned (pruned is then true).
func (s *Store) lookupKey(k ir.CacheKey) (e keyEntry, ok, pruned bool) {
	if k.IsZero() {
		return keyEntry{}, false, false
	}
	data, err := os.ReadFile(s.keyPath(k))
	if err != nil {
		return keyEntry{}, false, false
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return keyEntry{}, false, false
	}
	if e.Empty {
		return e, true, false
	}
	if !s.hasBlob(e.Digest) {
		return e, false, true
	}
	return e, true, false
}

// touchKey records that k was just reused, for `imgc cache ls`.
func (s *Store) touchKey(k ir.CacheKey) {
	now := time.Now()
	os.Chtimes(s.keyPath(k), now, now)
}

func (s *Store) putKey(k ir.CacheKey, e keyEntry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.keyPath(k), data); err != nil {
		return fmt.Errorf("recording cache key %s: %w", k.Short(), err)
	}
	return nil
}

// readIndex reads the store's index.json.
func (s *Store) readIndex() (*v1.IndexManifest, error) {
	f, err := os.Open(s.path("oci", "index.json"))
	if err != nil {
		return nil, fmt.Errorf("reading store index: %w", err)
	}
	defer f.Close()
	m, err := v1.ParseIndexManifest(f)
	if err != nil {
		return nil, fmt.Errorf("reading store index: %w", err)
	}
	return m, nil
}

// tagImages points each name at desc in the store's index.json, replacing
// earlier images of the same names.
func (s *Store) tagImages(desc v1.Descriptor, names []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := s.lock("index")
	if err != nil {
		return err
	}
	defer l.Unlock()
	m, err := s.readIndex()
	if err != nil {
		return err
	}
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	kept := []v1.Descriptor{}
	for _, d := range m.Manifests {
		if !drop[d.Annotations[refNameAnnotation]] {
			kept = append(kept, d)
		}
	}
	for _, n := range names {
		d := desc
		d.Annotations = map[string]string{refNameAnnotation: n}
		kept = append(kept, d)
	}
	m.Manifests = kept
	m.MediaType = types.OCIImageIndex
	m.SchemaVersion = 2
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.path("oci", "index.json"), data); err != nil {
		return fmt.Errorf("writing store index: %w", err)
	}
	return nil
}

// snapshotDir is the unpacked, overlay-ready form of the layer diffID.
func (s *Store) snapshotDir(diffID v1.Hash) string {
	return s.path("snapshots", diffID.Hex)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
