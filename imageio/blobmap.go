package imageio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// A blob map goes beside a BuildKit cache that `imgc build --builder`
// exports: the BuildKit engine stores each layer the daemon makes
// compressed as the local engine would (so both engines give an image the
// same digests), and the map says, for each of the daemon's layer blobs,
// which blob imgc made of it. Its layers are those blobs, so a build on
// another machine that imports the cache downloads them instead of
// compressing the daemon's layers again.
//
// It is an OCI artifact (artifactType BlobMapArtifactType) whose config
// (BlobMapConfigMediaType) is a BlobMapConfig. In a registry it is pushed
// beside the cache's reference REPO:TAG as REPO:TAG.imgc; in a directory
// (BuildKit's type=local) it is named TAG.imgc in index.json. BuildKit's
// own importers ignore it.
const (
	BlobMapArtifactType    = "application/vnd.imgc.blobmap.v1"
	BlobMapConfigMediaType = types.MediaType("application/vnd.imgc.blobmap.config.v1+json")
	blobMapFormatVersion   = 1
	// blobMapSuffix follows the cache's tag in the map's.
	blobMapSuffix = ".imgc"
)

// BlobMapConfig is a blob map's config document.
type BlobMapConfig struct {
	Version int            `json:"version"`
	Blobs   []BlobMapEntry `json:"blobs"`
}

// BlobMapEntry is one of the daemon's layer blobs (Builder) and the blob
// imgc made of it with Compression (the build's --compression).
type BlobMapEntry struct {
	Builder     v1.Hash `json:"builder"`
	Compression string  `json:"compression"`
	// The blob imgc made: its digest, the diff ID both blobs share, its
	// size and media type.
	Digest    v1.Hash         `json:"digest"`
	DiffID    v1.Hash         `json:"diff_id"`
	Size      int64           `json:"size"`
	MediaType types.MediaType `json:"media_type"`
	// Key is imgc's cache key of the layer: a build whose plan has that
	// key is likely to want the blob, and may fetch it early.
	Key ir.CacheKey `json:"key,omitzero"`
}

// Layer is the blob imgc made, as the store keeps it.
func (e BlobMapEntry) Layer() store.Layer {
	return store.Layer{Digest: e.Digest, DiffID: e.DiffID, Size: e.Size, MediaType: e.MediaType}
}

// BlobMapLocation is where the blob map of the BuildKit cache of type typ
// at loc goes: a registry reference (typ "registry") or a layout
// directory and the name in its index.json (typ "local"; tag is BuildKit's
// tag attribute, "latest" when empty).
func BlobMapLocation(typ, loc, tag string) (where, mapTag string, err error) {
	switch typ {
	case "registry":
		r, err := name.ParseReference(loc)
		if err != nil {
			return "", "", err
		}
		t, ok := r.(name.Tag)
		if !ok {
			return "", "", fmt.Errorf("the cache %s is named by digest, so no tag can name its blob map", loc)
		}
		mt, err := name.NewTag(t.Context().String()+":"+t.TagStr()+blobMapSuffix, name.WeakValidation)
		if err != nil {
			return "", "", fmt.Errorf("naming the blob map of %s: %w", loc, err)
		}
		return mt.String(), "", nil
	case "local", "oci":
		if tag == "" {
			tag = "latest"
		}
		return loc, tag + blobMapSuffix, nil
	}
	return "", "", fmt.Errorf("a blob map goes beside a registry or local cache, not %q", typ)
}

// ExportBlobMap writes the blob map of entries beside the BuildKit cache
// of type typ ("registry" or "local") at loc (see BlobMapLocation), its
// layers from s. Only the blobs the destination lacks are copied.
func ExportBlobMap(ctx context.Context, s *store.Store, typ, loc, tag string, entries []BlobMapEntry) error {
	where, mapTag, err := BlobMapLocation(typ, loc, tag)
	if err != nil {
		return err
	}
	cfg := BlobMapConfig{Version: blobMapFormatVersion, Blobs: append([]BlobMapEntry(nil), entries...)}
	sort.Slice(cfg.Blobs, func(i, j int) bool {
		a, b := cfg.Blobs[i], cfg.Blobs[j]
		if a.Builder != b.Builder {
			return a.Builder.String() < b.Builder.String()
		}
		return a.Compression < b.Compression
	})
	rawCfg, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	layers := []v1.Descriptor{}
	seen := map[v1.Hash]bool{}
	for _, e := range cfg.Blobs {
		if !seen[e.Digest] {
			seen[e.Digest] = true
			layers = append(layers, v1.Descriptor{MediaType: e.MediaType, Size: e.Size, Digest: e.Digest})
		}
	}
	art, err := newArtifact(BlobMapArtifactType, BlobMapConfigMediaType, rawCfg, layers)
	if err != nil {
		return err
	}
	blob := func(ctx context.Context, d v1.Hash) (io.ReadCloser, error) { return os.Open(s.BlobPath(d)) }
	if typ == "registry" {
		err = pushCache(ctx, where, art, blob)
	} else {
		err = writeBlobMapLayout(ctx, where, mapTag, art, blob)
	}
	if err != nil {
		return fmt.Errorf("writing imgc's blob map beside the cache %s: %w", loc, err)
	}
	return nil
}

// writeBlobMapLayout writes the map art into BuildKit's cache directory
// dir as mapTag, holding the lock BuildKit's exports share (cache.lock):
// an export of BuildKit's with reset=true, which takes it alone and
// deletes every blob index.json does not name, does not delete the map's
// blobs before index.json names them.
func writeBlobMapLayout(ctx context.Context, dir, mapTag string, art *cacheArtifact, blob BlobOpener) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	unlock, err := lockFile(ctx, filepath.Join(dir, "cache.lock"), true)
	if err != nil {
		return err
	}
	defer unlock()
	return writeLayoutArtifact(ctx, dir, art, mapTag, blob, func(d v1.Descriptor) bool {
		return d.ArtifactType == BlobMapArtifactType && d.Annotations[store.RefNameAnnotation] == mapTag
	})
}

// CheckBuildKitCache says what is missing when the BuildKit cache of type
// typ at loc (tag: a directory's, "latest" when empty) is not there: no
// manifest at the reference, no directory, or no entry of that name in
// its index.json; or that what is there is the local engine's cache, which
// BuildKit cannot read. BuildKit itself says nothing of it in a gateway
// build.
func CheckBuildKitCache(ctx context.Context, typ, loc, tag string) error {
	var raw []byte
	switch typ {
	case "registry":
		r, err := ParseReference(loc)
		if err != nil {
			return err
		}
		puller, err := remote.NewPuller(cacheOptions(ctx)...)
		if err != nil {
			return err
		}
		desc, err := puller.Get(ctx, r)
		if err != nil {
			return err
		}
		raw = desc.Manifest
	case "local", "oci":
		if tag == "" {
			tag = "latest"
		}
		m, _, err := layoutArtifact(loc, func(idx *v1.IndexManifest) *v1.Descriptor {
			for i, d := range idx.Manifests {
				if d.Annotations[store.RefNameAnnotation] == tag {
					return &idx.Manifests[i]
				}
			}
			return nil
		})
		if errors.Is(err, errNoArtifact) {
			return fmt.Errorf("its index.json names no cache %q", tag)
		}
		if err != nil {
			return err
		}
		raw = m
	default:
		return nil
	}
	var m struct {
		ArtifactType string        `json:"artifactType"`
		Config       v1.Descriptor `json:"config"`
	}
	if json.Unmarshal(raw, &m) == nil && (m.ArtifactType == CacheArtifactType || m.Config.MediaType == CacheConfigMediaType) {
		return errors.New("it is the cache of imgc's local engine, which BuildKit cannot read: with --builder, import a cache a --builder build exported (--cache-to on the BuildKit engine writes BuildKit's format)")
	}
	return nil
}

// BlobMap is an imported blob map: its entries, and its blobs, which
// Fetch downloads.
type BlobMap struct {
	// Name says where the map is, for messages.
	Name    string
	entries map[string]BlobMapEntry
	open    BlobOpener
}

// OpenBlobMap reads the blob map beside the BuildKit cache of type typ at
// loc (see BlobMapLocation); nil, and no error, when there is none. An
// entry whose blob the map's manifest does not list as it says, or whose
// media type is not its compression's, is left out; a map that says two
// things of one blob of imgc's (two diff IDs, say) is refused whole.
func OpenBlobMap(ctx context.Context, typ, loc, tag string) (*BlobMap, error) {
	where, mapTag, err := BlobMapLocation(typ, loc, tag)
	if err != nil {
		return nil, err
	}
	var (
		rawMan []byte
		open   BlobOpener
	)
	if typ == "registry" {
		rawMan, open, err = openRegistryBlobMap(ctx, where)
	} else {
		rawMan, open, err = openLayoutBlobMap(where, mapTag)
	}
	if err != nil || rawMan == nil {
		return nil, err
	}
	var cfg BlobMapConfig
	m, err := readArtifact(ctx, rawMan, open, BlobMapConfigMediaType, "an imgc blob map", &cfg)
	if err != nil {
		return nil, fmt.Errorf("reading the blob map %s: %w", where, err)
	}
	if cfg.Version != blobMapFormatVersion {
		return nil, fmt.Errorf("the blob map %s has format version %d, and this imgc reads version %d", where, cfg.Version, blobMapFormatVersion)
	}
	listed := map[v1.Hash]v1.Descriptor{}
	for _, d := range m.Layers {
		listed[d.Digest] = d
	}
	bm := &BlobMap{Name: typ + ":" + where, entries: map[string]BlobMapEntry{}, open: open}
	blobs := map[v1.Hash]store.Layer{}
	for _, e := range cfg.Blobs {
		d, ok := listed[e.Digest]
		if !ok || d.Size != e.Size || d.MediaType != e.MediaType || e.Size <= 0 || e.MediaType != compressedAs(e.Compression) {
			continue
		}
		if l, ok := blobs[e.Digest]; ok && l != e.Layer() {
			return nil, fmt.Errorf("the blob map %s is not one imgc wrote: it gives blob %s two contents (diff IDs %s and %s)", where, e.Digest, l.DiffID, e.DiffID)
		}
		blobs[e.Digest] = e.Layer()
		bm.entries[e.Builder.String()+" "+e.Compression] = e
	}
	return bm, nil
}

// compressedAs is the media type of imgc's layers compressed with
// compression.
var compressedAs = store.LayerMediaType

// Lookup returns the blob imgc made with compression of the daemon's
// layer l, when the map has one of l's content (its diff ID).
func (m *BlobMap) Lookup(l store.Layer, compression string) (store.Layer, bool) {
	e, ok := m.Entry(l.Digest, compression)
	if !ok || e.DiffID != l.DiffID {
		return store.Layer{}, false
	}
	return e.Layer(), true
}

// Entry is the map's entry for the daemon's blob d and compression.
func (m *BlobMap) Entry(d v1.Hash, compression string) (BlobMapEntry, bool) {
	e, ok := m.entries[d.String()+" "+compression]
	return e, ok
}

// ForKeys are the entries of compression whose key is in keys, one per
// key.
func (m *BlobMap) ForKeys(keys map[ir.CacheKey]bool, compression string) []BlobMapEntry {
	var out []BlobMapEntry
	seen := map[ir.CacheKey]bool{}
	for _, e := range m.entries {
		if e.Compression == compression && !e.Key.IsZero() && keys[e.Key] && !seen[e.Key] {
			seen[e.Key] = true
			out = append(out, e)
		}
	}
	return out
}

// Keys are the imgc cache keys of the layers the map has a blob of.
func (m *BlobMap) Keys() map[ir.CacheKey]bool {
	out := map[ir.CacheKey]bool{}
	for _, e := range m.entries {
		if !e.Key.IsZero() {
			out[e.Key] = true
		}
	}
	return out
}

// Len is the number of entries.
func (m *BlobMap) Len() int { return len(m.entries) }

// Fetch downloads the blob l (from Lookup) into s, unless s has it, and
// verifies its digest, size and diff ID, as CacheSource.Fetch does.
func (m *BlobMap) Fetch(ctx context.Context, s *store.Store, l store.Layer) error {
	return fetchLayer(ctx, s, m.open, l)
}

func openRegistryBlobMap(ctx context.Context, ref string) ([]byte, BlobOpener, error) {
	desc, open, err := registryArtifact(ctx, ref)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	if desc.MediaType.IsIndex() {
		return nil, nil, fmt.Errorf("%s is not an imgc blob map", ref)
	}
	return desc.Manifest, open, nil
}

func openLayoutBlobMap(dir, tag string) ([]byte, BlobOpener, error) {
	if _, err := os.Stat(filepath.Join(dir, "index.json")); errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	raw, open, err := layoutArtifact(dir, func(idx *v1.IndexManifest) *v1.Descriptor {
		for i, d := range idx.Manifests {
			if d.ArtifactType == BlobMapArtifactType && d.Annotations[store.RefNameAnnotation] == tag {
				return &idx.Manifests[i]
			}
		}
		return nil
	})
	if errors.Is(err, errNoArtifact) {
		return nil, nil, nil
	}
	return raw, open, err
}
