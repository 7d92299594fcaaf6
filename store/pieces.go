package store

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/semaphore"
)

// A layer is compressed in pieces of its tar, each on its own goroutine,
// on up to pieceWorkers cores, and the pieces are written in order: one
// compressor is one core's worth, and a large layer's compression was
// its build's slowest part. The pieces are cut at fixed offsets of the
// tar and each is compressed the same way whatever the machine, so a
// layer's bytes (and digest) depend on its tar alone.
//
//   - zstd: one independent frame per 16 MiB of tar. RFC 8878 allows any
//     number of frames in a stream and every decoder reads them (the zstd
//     tool, klauspost's, containerd's; containers/storage's zstd:chunked
//     layers are made of them). Measured on a 582 MB layer of Debian's
//     /usr on 2 cores: one frame 4.6 s and 195.5 MB; 16 MiB frames 1.8 s
//     and 197.1 MB (+0.8%: a frame starts without the 8 MiB window before
//     it).
//   - gzip: one member, as before, whose deflate stream is cut every
//     1 MiB of tar: each piece is compressed with the 32 KiB before it as
//     its dictionary (deflate's whole window, so matches reach back as in
//     one stream) and ends with a sync flush (an empty stored block, the
//     join pigz makes), the last with the final block; the header and
//     the trailer's CRC-32 and size are written around them. A layer
//     under 1 MiB is one piece and the same bytes as one stream.
const (
	zstdPiece = 16 << 20
	gzipPiece = 1 << 20
	gzipDict  = 32 << 10
)

func pieceWorkers() int { return min(runtime.GOMAXPROCS(0), 4) }

// pieceBudget bounds the bytes of tar waiting in pieces or being
// compressed, across every layer written at once (targets build in
// parallel, and a layer still compresses while the next step runs):
// two 16 MiB zstd frames per worker, 64-128 MiB.
var pieceBudget = sync.OnceValue(func() *semaphore.Weighted {
	return semaphore.NewWeighted(int64(2 * pieceWorkers() * zstdPiece))
})

// zstdEncoder compresses whole frames at klauspost's default level (zstd
// level 3, BuildKit's) on as many goroutines as call it, up to its
// concurrency; its output does not depend on the concurrency.
var zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(pieceWorkers()))
	if err != nil {
		panic(err) // only for invalid options, which these are not
	}
	return enc
})

func newZstdPieces(out io.Writer) *pieceWriter {
	return newPieceWriter(out, zstdPiece, zstdEncoder().MaxEncodedSize(zstdPiece), 0, false,
		func(dst, in, _ []byte, _ bool) []byte { return zstdEncoder().EncodeAll(in, dst) })
}

// flates holds deflate compressors between pieces (each is about 1 MB of
// state).
var flates sync.Pool

// deflatePiece compresses in as a piece of one deflate stream: after
// dict, ended by a sync flush, or by the final block if last. A first
// piece (no dict) comes from a fresh compressor, so that a one-piece
// layer is what one stream makes of it.
func deflatePiece(dst, in, dict []byte, last bool) []byte {
	buf := &appendWriter{b: dst}
	var fw *flate.Writer
	if len(dict) == 0 {
		fw, _ = flate.NewWriter(buf, flate.DefaultCompression)
	} else if v, ok := flates.Get().(*flate.Writer); ok {
		fw = v
		fw.ResetDict(buf, dict)
	} else {
		fw, _ = flate.NewWriterDict(buf, flate.DefaultCompression, dict)
	}
	fw.Write(in) // an appendWriter never fails
	if last {
		fw.Close()
	} else {
		fw.Flush()
	}
	if len(dict) > 0 {
		fw.ResetDict(nil, nil)
		flates.Put(fw)
	}
	return buf.b
}

type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// gzipPieces writes one gzip member (header as klauspost's and Go's
// gzip.Writer write it at the default level: no name, no mtime, OS
// unknown) whose deflate stream is compressed in pieces.
type gzipPieces struct {
	pw  *pieceWriter
	out io.Writer
	err error // of the header
	crc uint32
	n   int64
}

func newGzipPieces(out io.Writer) *gzipPieces {
	_, err := out.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255})
	// Deflate stores what it cannot compress: 5 bytes per 64 KiB block.
	return &gzipPieces{pw: newPieceWriter(out, gzipPiece, gzipPiece+gzipPiece/64, gzipDict, true, deflatePiece), out: out, err: err}
}

func (g *gzipPieces) Write(p []byte) (int, error) {
	g.crc = crc32.Update(g.crc, crc32.IEEETable, p)
	g.n += int64(len(p))
	return g.pw.Write(p)
}

func (g *gzipPieces) Close() error {
	if err := g.pw.Close(); err != nil {
		return err
	}
	if g.err != nil {
		return g.err
	}
	var t [8]byte
	binary.LittleEndian.PutUint32(t[:4], g.crc)
	binary.LittleEndian.PutUint32(t[4:], uint32(g.n))
	_, err := g.out.Write(t[:])
	return err
}

// pieceWriter cuts what is written to it into pieces of size bytes,
// compresses each with encode on its own goroutine and writes them to
// out in order. At most pieceWorkers()+2 pieces are in memory at once.
type pieceWriter struct {
	out    io.Writer
	size   int
	dict   int  // bytes of the previous piece each piece gets as dictionary
	always bool // a last piece is encoded even when empty
	encode func(dst, in, dict []byte, last bool) []byte
	bufs   *pieceBufs

	cur     []byte
	tail    []byte // the end of the last piece started, for dict
	n       int    // pieces started
	pending chan *piece
	done    chan struct{}
	err     error // of out, set by writeLoop before done
	aborted atomic.Bool
}

type piece struct {
	in, out []byte
	ready   chan struct{}
}

// pieceBufs holds the input and output buffers of full pieces of one
// size between pieces and layers.
type pieceBufs struct{ in, out sync.Pool }

func (p *pieceBufs) get(pool *sync.Pool) []byte { return (*pool.Get().(*[]byte))[:0] }

func (p *pieceBufs) put(pool *sync.Pool, b []byte) {
	b = b[:0]
	pool.Put(&b)
}

var pieceBuffers sync.Map // size -> *pieceBufs

// growLimit is how far the first piece of a layer grows by appending
// before it moves to a whole buffer: most layers are small.
const growLimit = 1 << 20

func newPieceWriter(out io.Writer, size, outCap, dict int, always bool, encode func(dst, in, dict []byte, last bool) []byte) *pieceWriter {
	v, ok := pieceBuffers.Load(size)
	if !ok {
		bufs := &pieceBufs{}
		bufs.in.New = func() any { b := make([]byte, 0, size); return &b }
		bufs.out.New = func() any { b := make([]byte, 0, outCap); return &b }
		v, _ = pieceBuffers.LoadOrStore(size, bufs)
	}
	w := &pieceWriter{out: out, size: size, dict: dict, always: always, encode: encode, bufs: v.(*pieceBufs),
		pending: make(chan *piece, pieceWorkers()), done: make(chan struct{})}
	go w.writeLoop()
	return w
}

// Write adds p to the piece being filled, starting its compression when
// it is full.
func (w *pieceWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if cap(w.cur) < w.size && (w.n > 0 || len(w.cur)+len(p) > growLimit) {
			w.cur = append(w.bufs.get(&w.bufs.in), w.cur...)
		}
		k := min(len(p), w.size-len(w.cur))
		w.cur = append(w.cur, p[:k]...)
		p = p[k:]
		if len(w.cur) == w.size {
			w.start(false)
		}
	}
	return n, nil
}

// start compresses the piece being filled on a goroutine of its own once
// there is room among the pending pieces.
func (w *pieceWriter) start(last bool) {
	pc := &piece{in: w.cur, ready: make(chan struct{})}
	dict := w.tail
	if w.dict > 0 {
		w.tail = append([]byte(nil), pc.in[max(0, len(pc.in)-w.dict):]...)
	}
	w.cur = nil
	w.n++
	pieceBudget().Acquire(context.Background(), int64(len(pc.in)))
	w.pending <- pc
	go func() {
		dst := []byte(nil)
		if len(pc.in) == w.size {
			dst = w.bufs.get(&w.bufs.out)
		}
		if !w.aborted.Load() {
			pc.out = w.encode(dst, pc.in, dict, last)
		}
		close(pc.ready)
	}()
}

// writeLoop writes the pieces in the order they were started.
func (w *pieceWriter) writeLoop() {
	defer close(w.done)
	for pc := range w.pending {
		<-pc.ready
		if w.err == nil && !w.aborted.Load() {
			_, w.err = w.out.Write(pc.out)
		}
		pieceBudget().Release(int64(len(pc.in)))
		if cap(pc.in) == w.size {
			w.bufs.put(&w.bufs.in, pc.in)
		}
		if len(pc.in) == w.size && pc.out != nil {
			w.bufs.put(&w.bufs.out, pc.out)
		}
	}
}

// Close compresses what is left as the last piece and waits until every
// piece is written.
func (w *pieceWriter) Close() error {
	if len(w.cur) > 0 || w.n == 0 || w.always {
		w.start(true)
	}
	close(w.pending)
	<-w.done
	return w.err
}

// Abort stops the writer without compressing what is left (its layer is
// thrown away) and waits for the pieces under way.
func (w *pieceWriter) Abort() {
	w.aborted.Store(true)
	close(w.pending)
	<-w.done
}

func (g *gzipPieces) Abort() { g.pw.Abort() }
