package buildkit

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"os"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgc-dev/imgc/store"
)

// exportStore is where the daemon's OCI exporter writes the image, over
// the session (an exporter with tar=false): the daemon copies a blob only
// when the store says it lacks it, so a rebuild receives the new config
// and manifest and the layers it made anew, not the base layers again.
// Each blob it writes goes through a temporary file and is verified
// against its digest before it is renamed into the store's blobs.
//
// The store tells the daemon that it holds a blob only for the blobs the
// daemon already knows imgc has (known: the build's served bases, what
// the daemon exported in each project's builds on this builder,
// what it wrote in this one), so a shared or remote daemon cannot probe imgc's store for
// other images; and for the layers of an imported cache that imgc took
// its own blobs of from beside that cache (blobmap.go), which tells the
// daemon nothing it cannot read in the cache. It reads nothing back: a
// daemon can neither read nor delete a blob.
type exportStore struct {
	s       *store.Store
	mu      sync.Mutex
	known   map[digest.Digest]bool
	writers map[string]*blobWriter
	// received is the bytes and blobs the daemon wrote.
	received      int64
	receivedBlobs int
	// compression, when set, makes each layer blob the daemon writes go
	// through a tee that recompresses it as it arrives (layertee.go);
	// teed are the committed blobs' layers, by the builder's digest.
	compression string
	teed        map[digest.Digest]*layerTee
	// maps are the build's imported blob maps (blobmap.go). stands are
	// the daemon's layer blobs the store need not hold, as it holds the
	// blob imgc made of each (recorded in the last build, or downloaded
	// from beside an imported cache): the daemon is told the store has
	// them, and build.recompress takes imgc's.
	maps   *blobMaps
	stands map[digest.Digest]bool
	// claimed are the blobs the daemon was told the store has because a
	// map gave imgc's blob of them; base the layers of the bases the
	// daemon pulls, which come as they are: never stood for nor claimed.
	claimed, base map[digest.Digest]bool
}

func newExportStore(s *store.Store) *exportStore {
	return &exportStore{s: s, known: map[digest.Digest]bool{}, writers: map[string]*blobWriter{}, teed: map[digest.Digest]*layerTee{},
		stands: map[digest.Digest]bool{}, claimed: map[digest.Digest]bool{}, base: map[digest.Digest]bool{}}
}

// take returns how many blobs and bytes the daemon wrote since the last
// take.
func (e *exportStore) take() (blobs int, bytes int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	blobs, bytes = e.receivedBlobs, e.received
	e.receivedBlobs, e.received = 0, 0
	return blobs, bytes
}

// know tells the store that the daemon knows imgc holds ds.
func (e *exportStore) know(ds ...digest.Digest) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range ds {
		e.known[d] = true
	}
}

// standFor tells the store that it holds imgc's blob of the daemon's
// layer blob d.
func (e *exportStore) standFor(d digest.Digest) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stands[d] = true
}

// keepBase tells the store that ds are layers of a base the daemon pulls.
func (e *exportStore) keepBase(ds ...v1.Hash) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range ds {
		e.base[digest.Digest(d.String())] = true
	}
}

// holds tells whether the store holds the blob d, or imgc's blob of it.
func (e *exportStore) holds(d v1.Hash) bool {
	e.mu.Lock()
	k := digest.Digest(d.String())
	stands := e.stands[k] || e.claimed[k]
	e.mu.Unlock()
	return stands || e.s.HasBlob(d)
}

// shortcuts tells whether the daemon was told the store holds a blob it
// lacks, and forgets every such shortcut: from now on, the daemon sends
// every blob the store lacks.
func (e *exportStore) shortcuts() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	had := len(e.claimed) > 0 || len(e.stands) > 0
	e.maps, e.stands, e.claimed = nil, map[digest.Digest]bool{}, map[digest.Digest]bool{}
	return had
}

// has tells whether the store holds d and may say so.
func (e *exportStore) has(d digest.Digest) (int64, bool) {
	e.mu.Lock()
	known := e.known[d]
	e.mu.Unlock()
	h, err := v1.NewHash(d.String())
	if !known || err != nil {
		return 0, false
	}
	fi, err := os.Stat(e.s.BlobPath(h))
	if err != nil || !fi.Mode().IsRegular() {
		return 0, false
	}
	return fi.Size(), true
}

func (e *exportStore) Info(_ context.Context, d digest.Digest) (content.Info, error) {
	size, ok := e.has(d)
	if !ok {
		return content.Info{}, fmt.Errorf("content %s: %w", d, errdefs.ErrNotFound)
	}
	return content.Info{Digest: d, Size: size}, nil
}

func (e *exportStore) ReaderAt(_ context.Context, desc ocispecs.Descriptor) (content.ReaderAt, error) {
	return nil, fmt.Errorf("content %s: the builder cannot read the store: %w", desc.Digest, errdefs.ErrNotFound)
}

func (e *exportStore) Walk(context.Context, content.WalkFunc, ...string) error { return nil }

func (e *exportStore) Update(context.Context, content.Info, ...string) (content.Info, error) {
	return content.Info{}, fmt.Errorf("the builder cannot change the store's blobs: %w", errdefs.ErrNotImplemented)
}

func (e *exportStore) Delete(context.Context, digest.Digest) error {
	return fmt.Errorf("the builder cannot delete the store's blobs: %w", errdefs.ErrNotImplemented)
}

func (e *exportStore) Status(_ context.Context, ref string) (content.Status, error) {
	e.mu.Lock()
	w := e.writers[ref]
	e.mu.Unlock()
	if w == nil {
		return content.Status{}, fmt.Errorf("write %s: %w", ref, errdefs.ErrNotFound)
	}
	return w.Status()
}

func (e *exportStore) ListStatuses(context.Context, ...string) ([]content.Status, error) {
	return nil, nil
}

func (e *exportStore) Abort(_ context.Context, ref string) error {
	e.mu.Lock()
	w := e.writers[ref]
	e.mu.Unlock()
	if w == nil {
		return fmt.Errorf("write %s: %w", ref, errdefs.ErrNotFound)
	}
	return w.Close()
}

// Writer starts the write of one blob, which must be named by its digest
// (the exporter always names it): a blob the store holds (or imgc's blob
// of the layer) is refused as already there, so the daemon skips it.
func (e *exportStore) Writer(ctx context.Context, opts ...content.WriterOpt) (content.Writer, error) {
	var wo content.WriterOpts
	for _, o := range opts {
		if err := o(&wo); err != nil {
			return nil, err
		}
	}
	if wo.Ref == "" {
		return nil, fmt.Errorf("a write needs a reference: %w", errdefs.ErrInvalidArgument)
	}
	if err := wo.Desc.Digest.Validate(); err != nil || wo.Desc.Digest.Algorithm() != digest.SHA256 {
		return nil, fmt.Errorf("write %s: the blob must be named by its sha256 digest, not %q: %w", wo.Ref, wo.Desc.Digest, errdefs.ErrInvalidArgument)
	}
	if _, ok := e.has(wo.Desc.Digest); ok {
		return nil, fmt.Errorf("content %s: %w", wo.Desc.Digest, errdefs.ErrAlreadyExists)
	}
	e.mu.Lock()
	d, base, maps := wo.Desc.Digest, e.base[wo.Desc.Digest], e.maps
	stands := !base && e.known[d] && e.stands[d]
	e.mu.Unlock()
	// Nor need the daemon send a layer blob when imgc holds its own blob
	// of that layer: recorded in the last build (and the daemon's blob
	// known to the daemon), or downloaded and verified now from beside an
	// imported cache.
	if stands {
		return nil, fmt.Errorf("content %s: %w", d, errdefs.ErrAlreadyExists)
	}
	if !base && maps.claim(ctx, wo.Desc) {
		e.mu.Lock()
		e.claimed[d] = true
		e.mu.Unlock()
		return nil, fmt.Errorf("content %s: %w", d, errdefs.ErrAlreadyExists)
	}
	f, err := e.s.TempFile("export-*")
	if err != nil {
		return nil, err
	}
	now := time.Now()
	w := &blobWriter{e: e, f: f, h: sha256.New(), ref: wo.Ref, desc: wo.Desc, started: now, updated: now}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.writers[wo.Ref] != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("write %s: %w", wo.Ref, errdefs.ErrUnavailable)
	}
	w.recompress = e.compression
	e.writers[wo.Ref] = w
	return w, nil
}

// blobWriter writes one blob into a temporary file of the store.
type blobWriter struct {
	e                *exportStore
	mu               sync.Mutex
	f                *os.File
	h                hash.Hash
	n                int64
	ref              string
	desc             ocispecs.Descriptor
	started, updated time.Time
	done, committed  bool
	// recompress is the export store's compression for a tee, which the
	// first write starts when the blob is a compressed layer.
	recompress string
	tee        *layerTee
}

func (w *blobWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return 0, fmt.Errorf("write %s: closed: %w", w.ref, errdefs.ErrFailedPrecondition)
	}
	if w.recompress != "" && w.n == 0 {
		w.tee = startTee(w.e.s, w.f.Name(), layerType(p), w.recompress)
		w.recompress = ""
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	if w.tee != nil && n > 0 {
		w.tee.wrote(n)
	}
	w.n += int64(n)
	w.updated = time.Now()
	return n, err
}

func (w *blobWriter) Status() (content.Status, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return content.Status{Ref: w.ref, Offset: w.n, Total: w.desc.Size, Expected: w.desc.Digest, StartedAt: w.started, UpdatedAt: w.updated}, nil
}

func (w *blobWriter) Digest() digest.Digest {
	w.mu.Lock()
	defer w.mu.Unlock()
	return digest.NewDigest(digest.SHA256, w.h)
}

// Truncate starts the blob over; the store keeps no partial writes.
func (w *blobWriter) Truncate(size int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if size != 0 {
		return fmt.Errorf("write %s: truncating to %d: %w", w.ref, size, errdefs.ErrNotImplemented)
	}
	if w.tee != nil {
		w.tee.drop()
		w.tee = nil
	}
	if err := w.f.Truncate(0); err != nil {
		return err
	}
	if _, err := w.f.Seek(0, 0); err != nil {
		return err
	}
	w.h.Reset()
	w.n = 0
	return nil
}

// Commit checks the blob against its size and digest and moves it into
// the store.
func (w *blobWriter) Commit(_ context.Context, size int64, expected digest.Digest, _ ...content.Opt) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return fmt.Errorf("write %s: closed: %w", w.ref, errdefs.ErrFailedPrecondition)
	}
	defer w.closeLocked()
	got := digest.NewDigest(digest.SHA256, w.h)
	if expected == "" {
		expected = w.desc.Digest
	}
	if got != expected || got != w.desc.Digest {
		return fmt.Errorf("blob %s: its content hashes to %s: %w", w.desc.Digest, got, errdefs.ErrFailedPrecondition)
	}
	if size > 0 && size != w.n {
		return fmt.Errorf("blob %s: %d bytes written, %d expected: %w", got, w.n, size, errdefs.ErrFailedPrecondition)
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(w.f.Name(), 0o644); err != nil {
		return err
	}
	h, err := v1.NewHash(got.String())
	if err != nil {
		return err
	}
	if err := os.Rename(w.f.Name(), w.e.s.BlobPath(h)); err != nil {
		return err
	}
	w.committed = true
	if w.tee != nil {
		w.tee.finish()
		w.e.mu.Lock()
		old := w.e.teed[got]
		w.e.teed[got] = w.tee
		w.e.mu.Unlock()
		if old != nil {
			old.drop()
		}
		w.tee = nil
	}
	w.e.mu.Lock()
	w.e.known[got] = true
	w.e.received += w.n
	w.e.receivedBlobs++
	w.e.mu.Unlock()
	return nil
}

func (w *blobWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closeLocked()
	return nil
}

// closeLocked drops the temporary file (gone already after a commit) and
// forgets the write.
func (w *blobWriter) closeLocked() {
	if w.done {
		return
	}
	w.done = true
	if w.tee != nil {
		w.tee.drop()
		w.tee = nil
	}
	if !w.committed {
		w.f.Close()
		os.Remove(w.f.Name())
	}
	w.e.mu.Lock()
	if w.e.writers[w.ref] == w {
		delete(w.e.writers, w.ref)
	}
	w.e.mu.Unlock()
}
