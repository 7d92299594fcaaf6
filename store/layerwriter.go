package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"os"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Sizes of the pipeline's chunks and of its queue between the diff-ID
// hash and the compressor: a layer up to chunkSize*compressQueue bytes is
// hashed (and its diff ID known) without waiting for compression, and a
// larger one is written at the compressor's pace, never held in memory
// or on disk uncompressed.
const (
	chunkSize     = 1 << 20
	compressQueue = 32
)

// chunks are reused across layers, so that many small layers do not
// allocate a queue each.
var chunks = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize); return &b }}

func getChunk() []byte { return (*chunks.Get().(*[]byte))[:0] }

func putChunk(b []byte) {
	b = b[:0]
	chunks.Put(&b)
}

// nextChunk returns a free chunk of free, or a new one while fewer than
// max are in use (*n counts them), or waits for one.
func nextChunk(free chan []byte, n *int, max int) []byte {
	select {
	case b := <-free:
		return b
	default:
	}
	if *n < max {
		*n++
		return getChunk()
	}
	return <-free
}

// drainChunks returns the n chunks of a finished stage to the pool.
func drainChunks(free chan []byte, n int) {
	for range n {
		putChunk(<-free)
	}
}

// compressor is a layer's compressor (pieces.go): Close ends the stream,
// Abort drops it.
type compressor interface {
	io.WriteCloser
	Abort()
}

// LayerWriter streams an uncompressed layer tar into a blob of the store
// in one pass, each stage on its own goroutine: the writer's goroutine
// only copies into chunks, one goroutine computes the diff ID, another
// compresses (in pieces on several: pieces.go), and a third hashes the
// compressed stream and writes it to a temporary file, which Commit moves
// to its place among the blobs. Nothing is kept uncompressed.
//
// The compressed bytes depend on the tar alone, so digests are
// reproducible: pieces are cut at fixed offsets of the tar, and each is
// compressed the same way however many goroutines compress them.
type LayerWriter struct {
	s   *Store
	mt  types.MediaType
	tmp *os.File

	cur    []byte
	nChunk int
	free   chan []byte
	toHash chan []byte
	toComp chan []byte

	diff  hash.Hash
	diffN int64
	out   *blobSink
	zw    compressor

	mu       sync.Mutex
	err      error
	hashDone chan struct{}
	done     chan struct{}
	closed   bool
	layer    Layer
}

// NewLayerWriter starts a layer blob compressed with compression: "zstd",
// or gzip for anything else. The caller must end it with Close and then
// Commit or Abort.
func (s *Store) NewLayerWriter(compression string) (*LayerWriter, error) {
	tmp, err := s.TempFile("blob-")
	if err != nil {
		return nil, err
	}
	w := &LayerWriter{s: s, tmp: tmp, mt: LayerMediaType(compression),
		free:   make(chan []byte, compressQueue+2),
		toHash: make(chan []byte, 2), toComp: make(chan []byte, compressQueue),
		diff: sha256.New(), hashDone: make(chan struct{}), done: make(chan struct{})}
	w.out = newBlobSink(tmp)
	if compression == "zstd" {
		w.zw = newZstdPieces(w.out)
	} else {
		w.zw = newGzipPieces(w.out)
	}
	w.cur = nextChunk(w.free, &w.nChunk, compressQueue+2)
	go w.hashLoop()
	go w.compressLoop()
	return w, nil
}

func (w *LayerWriter) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

func (w *LayerWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *LayerWriter) hashLoop() {
	for b := range w.toHash {
		w.diff.Write(b)
		w.diffN += int64(len(b))
		w.toComp <- b
	}
	close(w.toComp)
	close(w.hashDone)
}

func (w *LayerWriter) compressLoop() {
	defer close(w.done)
	for b := range w.toComp {
		if w.failed() == nil {
			if _, err := w.zw.Write(b); err != nil {
				w.fail(err)
			}
		}
		w.free <- b[:0]
	}
	if w.failed() != nil {
		w.zw.Abort()
	} else if err := w.zw.Close(); err != nil {
		w.fail(err)
	}
	if err := w.out.close(); err != nil {
		w.fail(err)
	}
}

// Write adds p to the layer tar.
func (w *LayerWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("write to a closed layer writer")
	}
	if err := w.failed(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		k := copy(w.cur[len(w.cur):cap(w.cur)], p)
		w.cur = w.cur[:len(w.cur)+k]
		p = p[k:]
		if len(w.cur) == cap(w.cur) {
			w.toHash <- w.cur
			w.cur = nextChunk(w.free, &w.nChunk, compressQueue+2)
		}
	}
	return n, nil
}

// DiffID ends the tar and returns its digest and size as soon as it is
// hashed; compression may still be running.
func (w *LayerWriter) DiffID() (v1.Hash, int64, error) {
	if !w.closed {
		w.closed = true
		if len(w.cur) > 0 {
			w.toHash <- w.cur
		} else {
			w.free <- w.cur
		}
		w.cur = nil
		close(w.toHash)
	}
	<-w.hashDone
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(w.diff.Sum(nil))}, w.diffN, w.failed()
}

// Close ends the tar and waits for its blob: the returned layer's digest,
// diff ID, size and media type. The blob is a temporary file until Commit.
func (w *LayerWriter) Close() (Layer, error) {
	diff, _, _ := w.DiffID()
	w.wait()
	if err := w.failed(); err != nil {
		return Layer{}, err
	}
	w.layer = Layer{Digest: w.out.digest(), DiffID: diff, Size: w.out.n, MediaType: w.mt}
	return w.layer, nil
}

// Commit moves the closed layer's blob to its place in the store.
func (w *LayerWriter) Commit() error {
	name := w.tmp.Name()
	if err := os.Chmod(name, 0o644); err != nil {
		os.Remove(name)
		return err
	}
	w.s.blobWrites.Add(1)
	if err := os.Rename(name, w.s.BlobPath(w.layer.Digest)); err != nil {
		os.Remove(name)
		return err
	}
	return nil
}

// Abort stops the layer, waits for its goroutines and removes its blob.
func (w *LayerWriter) Abort() {
	w.fail(errors.New("layer aborted"))
	w.DiffID()
	w.wait()
	os.Remove(w.tmp.Name())
}

// wait waits for the compressor and gives the chunks back.
func (w *LayerWriter) wait() {
	<-w.done
	if w.nChunk > 0 {
		drainChunks(w.free, w.nChunk)
		w.nChunk = 0
	}
}

// blobSink hashes and writes a compressed stream to a file on a goroutine
// of its own, in chunks.
type blobSink struct {
	f    *os.File
	h    hash.Hash
	n    int64
	cur  []byte
	nCh  int
	ch   chan []byte
	free chan []byte
	done chan error
}

func newBlobSink(f *os.File) *blobSink {
	b := &blobSink{f: f, h: sha256.New(), ch: make(chan []byte, 2), free: make(chan []byte, 4), done: make(chan error, 1)}
	b.cur = nextChunk(b.free, &b.nCh, 3)
	go func() {
		var err error
		for c := range b.ch {
			if err == nil {
				b.h.Write(c)
				_, err = b.f.Write(c)
			}
			b.free <- c[:0]
		}
		if cerr := b.f.Close(); err == nil {
			err = cerr
		}
		b.done <- err
	}()
	return b
}

func (b *blobSink) Write(p []byte) (int, error) {
	n := len(p)
	b.n += int64(n)
	for len(p) > 0 {
		k := copy(b.cur[len(b.cur):cap(b.cur)], p)
		b.cur = b.cur[:len(b.cur)+k]
		p = p[k:]
		if len(b.cur) == cap(b.cur) {
			b.ch <- b.cur
			b.cur = nextChunk(b.free, &b.nCh, 3)
		}
	}
	return n, nil
}

func (b *blobSink) close() error {
	if len(b.cur) > 0 {
		b.ch <- b.cur
	} else {
		b.free <- b.cur
	}
	close(b.ch)
	err := <-b.done
	drainChunks(b.free, b.nCh)
	return err
}

func (b *blobSink) digest() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(b.h.Sum(nil))}
}

// LayerMediaType is the media type of the layers NewLayerWriter makes
// with compression: zstd's for "zstd", else gzip's.
func LayerMediaType(compression string) types.MediaType {
	if compression == "zstd" {
		return types.OCILayerZStd
	}
	return types.OCILayer
}
