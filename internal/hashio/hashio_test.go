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
	data := make([]byte, 3<<20+777)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, n := range []int{0, 1, 256<<10 - 1, 256 << 10, 256<<10 + 1, len(data)} {
		for _, wsize := range []int{1, 512, 32 << 10, 256<<10 + 3, len(data)} {
			if wsize == 1 && n > 256<<10+1 {
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
	a.Write(data[:512<<10+5])
	a.Close()
	a.Close()
}
