package hashio

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// TestAsync: the digest and count of writes of every size match sha256 of
// the same bytes, and Close without Sum returns.
func TestAsync(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 3*asyncChunk*(asyncDepth+2)+777)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, n := range []int{0, 1, asyncChunk - 1, asyncChunk, asyncChunk + 1, len(data)} {
		for _, wsize := range []int{1, 512, 32 << 10, asyncChunk + 3, len(data)} {
			if wsize == 1 && n > asyncChunk+1 {
				continue
			}
			a := NewAsync()
			for rest := data[:n]; len(rest) > 0; {
				k := min(wsize, len(rest))
				a.Write(rest[:k])
				rest = rest[k:]
			}
			sum := sha256.Sum256(data[:n])
			if got, want := a.Sum().Hex, hex.EncodeToString(sum[:]); got != want || a.N != int64(n) {
				t.Errorf("%d bytes in writes of %d: %s (%d bytes), want %s", n, wsize, got, a.N, want)
			}
		}
	}
	a := NewAsync()
	a.Write(data[:asyncChunk*2+5])
	a.Close()
	a.Close()
}
