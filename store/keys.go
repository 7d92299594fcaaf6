package store

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgc-dev/imgc/ir"
)

// Entry is one cache index entry: the layer a cache key produced.
type Entry struct {
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

// BuiltOn tells whether the entry can be reused on top of the content
// chain (entries from before ParentChain was recorded are trusted).
func (e Entry) BuiltOn(chain string) bool {
	return e.ParentChain == "" || e.ParentChain == chain
}

// Layer is the entry's layer as a manifest lists it.
func (e Entry) Layer() Layer {
	return Layer{Digest: e.Digest, DiffID: e.DiffID, Size: e.Size, MediaType: e.MediaType}
}

// keyPath is the cache index file of key k.
func (s *Store) keyPath(k ir.CacheKey) string {
	return s.path("keys", k.Hex()+".json")
}

// LookupKey returns the cache index entry of k; ok is false when k is not
// cached or its blob was pruned (pruned is then true).
func (s *Store) LookupKey(k ir.CacheKey) (e Entry, ok, pruned bool) {
	if k.IsZero() {
		return Entry{}, false, false
	}
	data, err := os.ReadFile(s.keyPath(k))
	if err != nil {
		return Entry{}, false, false
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return Entry{}, false, false
	}
	if e.Empty {
		return e, true, false
	}
	if !s.HasBlob(e.Digest) {
		return e, false, true
	}
	return e, true, false
}

// TouchKey records that k was just reused, for `imgc cache ls`.
func (s *Store) TouchKey(k ir.CacheKey) {
	now := time.Now()
	os.Chtimes(s.keyPath(k), now, now)
}

// PutKey records e as what k produced.
func (s *Store) PutKey(k ir.CacheKey, e Entry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.keyPath(k), data); err != nil {
		return fmt.Errorf("recording cache key %s: %w", k.Short(), err)
	}
	return nil
}

// KeySnapshot looks up many keys at once, as a plan does for every layer:
// it lists the keys directory once, so that a key never recorded costs no
// failing open (a plan of 1,000 new steps made 1,000). Keys recorded after
// the snapshot are not seen; a build looks keys up by itself.
type KeySnapshot struct {
	s *Store
	// recorded holds the hex of every key recorded, or is nil when the
	// directory was not listed: each key is then opened.
	recorded map[string]bool
}

// SnapshotKeys is a KeySnapshot for looking up about n keys. A directory
// holding many more keys than that (a large cache, a small plan) is not
// listed in full: opening n records then costs less.
func (s *Store) SnapshotKeys(n int) *KeySnapshot {
	ks := &KeySnapshot{s: s}
	f, err := os.Open(s.path("keys"))
	if err != nil {
		return ks
	}
	defer f.Close()
	limit := 4*n + 1024
	// A directory's size tells roughly how many entries it holds (ext4
	// and XFS: about 80 bytes for a key's name; tmpfs less, btrfs more):
	// one far too large is not read at all.
	if fi, err := f.Stat(); err != nil || fi.Size() > 80*int64(limit) {
		return ks
	}
	recorded := map[string]bool{}
	for {
		names, err := f.Readdirnames(512)
		for _, name := range names {
			if hex, ok := strings.CutSuffix(name, ".json"); ok {
				recorded[hex] = true
			}
		}
		if err == io.EOF {
			ks.recorded = recorded
			return ks
		}
		if err != nil || len(recorded) > limit {
			return ks
		}
	}
}

// LookupKey is Store.LookupKey.
func (ks *KeySnapshot) LookupKey(k ir.CacheKey) (e Entry, ok, pruned bool) {
	if ks.recorded != nil && !ks.recorded[k.Hex()] {
		return Entry{}, false, false
	}
	return ks.s.LookupKey(k)
}
