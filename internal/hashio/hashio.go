// Package hashio hashes a stream as it is written: the store, image I/O
// and the local engine use it to learn a blob's or a layer's digest in the
// same pass that writes it, never by reading it again. It deliberately does
// nothing else (no verification, no compression).
package hashio

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Writer passes writes through to an underlying writer while hashing
// (sha256) and counting them.
type Writer struct {
	w io.Writer
	h hash.Hash
	// N is how many bytes went through.
	N int64
}

// NewWriter hashes what is written through it to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, h: sha256.New()}
}

func (hw *Writer) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.N += int64(n)
	return n, err
}

// Sum is the digest of what went through so far.
func (hw *Writer) Sum() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(hw.h.Sum(nil))}
}

// Async hashes (sha256) and counts what is written to it on a goroutine
// of its own. Where the bytes come from work of their own (a decompressor,
// a tar being unpacked), that work and the hash use two cores instead of
// taking turns on one: verifying a 35 MB gzip layer against its diff ID
// hashes 80 MB. Write copies p into a few pooled chunks and returns; Sum
// waits for the hash to catch up. Close (or Sum) must be called, even
// after an error, to stop the goroutine.
type Async struct {
	h      hash.Hash
	full   chan []byte
	free   chan []byte
	done   chan struct{}
	cur    []byte
	made   int
	closed bool
	// N is how many bytes were written.
	N int64
}

const (
	asyncChunk = 256 << 10
	// asyncDepth chunks wait for the hash at most; two more are being
	// hashed and filled.
	asyncDepth = 4
)

var asyncChunks = sync.Pool{New: func() any { b := make([]byte, 0, asyncChunk); return &b }}

// NewAsync starts hashing what is written to the result.
func NewAsync() *Async {
	a := &Async{h: sha256.New(), full: make(chan []byte, asyncDepth), free: make(chan []byte, asyncDepth+2), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		for b := range a.full {
			a.h.Write(b)
			a.free <- b[:0]
		}
	}()
	return a
}

// Write never fails.
func (a *Async) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if a.cur == nil {
			a.cur = a.chunk()
		}
		c := copy(a.cur[len(a.cur):cap(a.cur)], p)
		a.cur, p = a.cur[:len(a.cur)+c], p[c:]
		if len(a.cur) == cap(a.cur) {
			a.full <- a.cur
			a.cur = nil
		}
	}
	a.N += int64(n)
	return n, nil
}

// chunk is an empty chunk to fill: a hashed one, else a new one while
// fewer than asyncDepth+2 exist, else the next one hashed.
func (a *Async) chunk() []byte {
	select {
	case b := <-a.free:
		return b
	default:
	}
	if a.made < asyncDepth+2 {
		a.made++
		return (*asyncChunks.Get().(*[]byte))[:0]
	}
	return <-a.free
}

// Close waits for the hash of what was written and releases the chunks.
func (a *Async) Close() {
	if a.closed {
		return
	}
	a.closed = true
	if len(a.cur) > 0 {
		a.full <- a.cur
	} else if a.cur != nil {
		a.free <- a.cur
	}
	a.cur = nil
	close(a.full)
	<-a.done
	for i := 0; i < a.made; i++ {
		b := <-a.free
		asyncChunks.Put(&b)
	}
}

// Sum is the digest of everything written; nothing may be written after.
func (a *Async) Sum() v1.Hash {
	a.Close()
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(a.h.Sum(nil))}
}
