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
