package hashcache

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzDecodeShard: any bytes decode to a shard or an error, never a panic
// or an unbounded allocation, and what decodes encodes back the same.
func FuzzDecodeShard(f *testing.F) {
	f.Add(encodeShard(map[string]*entry{
		"/ctx/a":     {size: 1, mtime: 2, ino: 3, ctime: 4, sum: [32]byte{5}, used: true},
		"/ctx/a/b/c": {size: 6, used: true},
	}))
	f.Add(encodeShard(map[string]*entry{}))
	f.Add([]byte("imgchc\x00\x02\x05"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeShard(data)
		if err != nil {
			return
		}
		for _, e := range m {
			e.used = true
		}
		again, err := decodeShard(encodeShard(m))
		if err != nil {
			t.Fatalf("re-encoded shard does not decode: %v", err)
		}
		for _, e := range again {
			e.used = true
		}
		if !cmp.Equal(m, again, cmp.AllowUnexported(entry{})) {
			t.Errorf("round trip changed the shard")
		}
	})
}
