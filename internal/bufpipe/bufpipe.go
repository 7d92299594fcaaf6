// Package bufpipe is io.Pipe with a buffer between its ends. io.Pipe
// hands each write to the reader directly, so the writer waits while the
// reader works through it: a download feeding a decompressor then takes
// turns with it on one core. Here a write returns once its bytes are
// copied into one of a few chunks, and the two ends work at the same time
// until the buffer is full or empty.
package bufpipe

import (
	"io"
	"sync"
	"sync/atomic"
)

const (
	chunkSize = 256 << 10
	// depth chunks are filled at most, ahead of the reader.
	depth = 8
)

var chunks = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize); return &b }}

type pipe struct {
	data chan []byte
	free chan []byte
	// done is closed when the reader is closed, with rerr set before.
	done     chan struct{}
	rerr     error
	doneOnce sync.Once
	// werr is what the reader sees once data is closed and drained.
	werr error
	// abort is the writer's error when it closed with one: the reader
	// sees it at once, as with io.Pipe, not after what is buffered.
	abort atomic.Pointer[error]
}

// Reader is the read end of a pipe.
type Reader struct {
	p     *pipe
	chunk []byte
	rest  []byte
}

// Writer is the write end of a pipe. Write and Close are called from
// one goroutine at a time.
type Writer struct {
	p      *pipe
	cur    []byte
	made   int
	closed bool
}

// New returns the two ends of a buffered pipe.
func New() (*Reader, *Writer) {
	p := &pipe{data: make(chan []byte, depth), free: make(chan []byte, depth+1), done: make(chan struct{})}
	return &Reader{p: p}, &Writer{p: p}
}

// Read reads what was written, in order; after the writer's Close it
// returns io.EOF, or the error given to CloseWithError.
func (r *Reader) Read(b []byte) (int, error) {
	if err := r.p.abort.Load(); err != nil {
		return 0, *err
	}
	for len(r.rest) == 0 {
		if !r.next() {
			return 0, r.p.werr
		}
	}
	n := copy(b, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}

// WriteTo writes what was written to w, chunk by chunk (no copy in
// between), until the writer's Close; it returns the error given to
// CloseWithError, or w's.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for {
		if err := r.p.abort.Load(); err != nil {
			return n, *err
		}
		if len(r.rest) > 0 {
			k, err := w.Write(r.rest)
			n += int64(k)
			r.rest = r.rest[k:]
			if err != nil {
				return n, err
			}
			continue
		}
		if !r.next() {
			if r.p.werr == io.EOF {
				return n, nil
			}
			return n, r.p.werr
		}
	}
}

// next gives the chunk read back and takes the next one written; false
// once the writer has closed and everything was read.
func (r *Reader) next() bool {
	if r.chunk != nil {
		r.p.free <- r.chunk[:0]
		r.chunk = nil
	}
	c, ok := <-r.p.data
	if !ok {
		r.release()
		return false
	}
	r.chunk, r.rest = c, c
	return true
}

// release returns the chunks to the pool once the stream has ended.
func (r *Reader) release() {
	for {
		select {
		case c := <-r.p.free:
			chunks.Put(&c)
		default:
			return
		}
	}
}

// CloseWithError closes the read end: the writer's writes fail with err
// from then on.
func (r *Reader) CloseWithError(err error) {
	r.p.doneOnce.Do(func() {
		r.p.rerr = err
		close(r.p.done)
	})
}

// Write copies b into the buffer, waiting only while it is full. It fails
// once the reader is closed.
func (w *Writer) Write(b []byte) (int, error) {
	if w.closed {
		return 0, io.ErrClosedPipe
	}
	n := 0
	for len(b) > 0 {
		if w.cur == nil {
			c, err := w.chunk()
			if err != nil {
				return n, err
			}
			w.cur = c
		}
		c := copy(w.cur[len(w.cur):cap(w.cur)], b)
		w.cur, b = w.cur[:len(w.cur)+c], b[c:]
		n += c
		if len(w.cur) == cap(w.cur) {
			if err := w.send(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// ReadFrom writes what r reads until its end, reading straight into the
// buffer's chunks (no copy in between), and returns r's error if not
// io.EOF (a decompressor's io.ErrUnexpectedEOF, for a truncated stream,
// is an error).
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	if w.closed {
		return 0, io.ErrClosedPipe
	}
	var n int64
	for {
		if w.cur == nil {
			c, err := w.chunk()
			if err != nil {
				return n, err
			}
			w.cur = c
		}
		k, err := r.Read(w.cur[len(w.cur):cap(w.cur)])
		w.cur = w.cur[:len(w.cur)+k]
		n += int64(k)
		if len(w.cur) == cap(w.cur) {
			if serr := w.send(); serr != nil {
				return n, serr
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (w *Writer) chunk() ([]byte, error) {
	select {
	case c := <-w.p.free:
		return c, nil
	default:
	}
	if w.made <= depth {
		w.made++
		return (*chunks.Get().(*[]byte))[:0], nil
	}
	select {
	case c := <-w.p.free:
		return c, nil
	case <-w.p.done:
		return nil, w.p.rerr
	}
}

func (w *Writer) send() error {
	select {
	case w.p.data <- w.cur:
		w.cur = nil
		return nil
	case <-w.p.done:
		return w.p.rerr
	}
}

// Close ends the stream: the reader reads what is buffered, then io.EOF.
func (w *Writer) Close() error { return w.CloseWithError(nil) }

// CloseWithError ends the stream with err: the reader's next read
// returns it, whatever is still buffered (nil: the reader reads what is
// buffered, then io.EOF).
func (w *Writer) CloseWithError(err error) error {
	if w.closed {
		return nil
	}
	w.closed = true
	var serr error
	if err == nil {
		err = io.EOF
		if len(w.cur) > 0 {
			serr = w.send()
		}
	} else {
		w.p.abort.Store(&err)
	}
	w.p.werr = err
	close(w.p.data)
	return serr
}
