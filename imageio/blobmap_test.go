package imageio_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// A blob map goes into a BuildKit cache directory beside BuildKit's own
// entry, which it keeps, replacing the map of an earlier export under the
// same tag and no other; reading it back gives its entries, each checked
// against the map's manifest, and its blobs, verified as they are fetched.
func TestBlobMapLayout(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// BuildKit's cache, as its local exporter names it.
	buildkit := v1.Descriptor{MediaType: "application/vnd.oci.image.index.v1+json", Size: 2, Digest: v1.Hash{Algorithm: "sha256", Hex: "0000000000000000000000000000000000000000000000000000000000000001"},
		Annotations: map[string]string{store.RefNameAnnotation: "latest"}}
	writeIndex(t, dir, buildkit)

	a, b := storedLayer(t, s, "a"), storedLayer(t, s, "b")
	builderA := v1.Hash{Algorithm: "sha256", Hex: "00000000000000000000000000000000000000000000000000000000000000aa"}
	builderB := v1.Hash{Algorithm: "sha256", Hex: "00000000000000000000000000000000000000000000000000000000000000bb"}
	keyA, keyB := ir.KeyOf([]byte("layer a")), ir.KeyOf([]byte("layer b"))
	entry := func(builder v1.Hash, e store.Entry) imageio.BlobMapEntry {
		k := keyA
		if builder == builderB {
			k = keyB
		}
		return imageio.BlobMapEntry{Builder: builder, Compression: "gzip", Digest: e.Digest, DiffID: e.DiffID, Size: e.Size, MediaType: e.MediaType, Key: k}
	}
	if err := imageio.ExportBlobMap(ctx, s, "local", dir, "", []imageio.BlobMapEntry{entry(builderA, a)}); err != nil {
		t.Fatal(err)
	}
	if err := imageio.ExportBlobMap(ctx, s, "local", dir, "other", []imageio.BlobMapEntry{entry(builderA, a)}); err != nil {
		t.Fatal(err)
	}
	// Exported again under "latest": replaces the first map.
	if err := imageio.ExportBlobMap(ctx, s, "local", dir, "latest", []imageio.BlobMapEntry{entry(builderA, a), entry(builderB, b)}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range readIndex(t, dir).Manifests {
		names = append(names, d.Annotations[store.RefNameAnnotation]+" "+d.ArtifactType)
	}
	if diff := cmp.Diff([]string{"latest ", "other.imgc " + imageio.BlobMapArtifactType, "latest.imgc " + imageio.BlobMapArtifactType}, names); diff != "" {
		t.Errorf("index.json names (-want +got):\n%s", diff)
	}

	bm, err := imageio.OpenBlobMap(ctx, "local", dir, "")
	if err != nil || bm == nil {
		t.Fatalf("reading the map: %v", err)
	}
	if bm.Len() != 2 {
		t.Errorf("the map has %d entries, want 2", bm.Len())
	}
	got, ok := bm.Lookup(store.Layer{Digest: builderB, DiffID: b.DiffID}, "gzip")
	if !ok || got.Digest != b.Digest {
		t.Errorf("Lookup of the builder's b: %v, %v; want imgc's %s", got.Digest, ok, b.Digest)
	}
	// The entries of a plan's keys, to fetch early.
	if es := bm.ForKeys(map[ir.CacheKey]bool{keyB: true, ir.KeyOf([]byte("other")): true}, "gzip"); len(es) != 1 || es[0].Digest != b.Digest {
		t.Errorf("ForKeys(b's key) = %v, want b's entry", es)
	}
	// Another content (diff ID) or compression finds nothing.
	if _, ok := bm.Lookup(store.Layer{Digest: builderB, DiffID: a.DiffID}, "gzip"); ok {
		t.Error("Lookup with another diff ID found an entry")
	}
	if _, ok := bm.Lookup(store.Layer{Digest: builderB, DiffID: b.DiffID}, "zstd"); ok {
		t.Error("Lookup with another compression found an entry")
	}
	// Fetched into another store, and verified.
	s2, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := bm.Fetch(ctx, s2, got); err != nil {
		t.Fatalf("fetching imgc's b: %v", err)
	}
	if !s2.HasBlob(b.Digest) {
		t.Error("the fetched blob is not in the store")
	}
	// A blob of other content is refused.
	bad := got
	bad.DiffID = a.DiffID
	s3, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := bm.Fetch(ctx, s3, bad); err == nil {
		t.Error("a blob whose content is not the entry's diff ID was fetched without an error")
	}

	// No map under a tag that has none.
	if bm, err := imageio.OpenBlobMap(ctx, "local", dir, "nothing"); bm != nil || err != nil {
		t.Errorf("a tag without a map read as %v, %v", bm, err)
	}
	if bm, err := imageio.OpenBlobMap(ctx, "local", t.TempDir(), ""); bm != nil || err != nil {
		t.Errorf("an empty directory read as %v, %v", bm, err)
	}
}

func TestBlobMapLocation(t *testing.T) {
	for _, tc := range []struct {
		typ, loc, tag, where, mapTag string
		fails                        bool
	}{
		{typ: "registry", loc: "r.example/app:cache", where: "r.example/app:cache.imgc"},
		{typ: "registry", loc: "r.example/app", where: "r.example/app:latest.imgc"},
		{typ: "registry", loc: "r.example/app@sha256:0000000000000000000000000000000000000000000000000000000000000001", fails: true},
		{typ: "local", loc: "/c", where: "/c", mapTag: "latest.imgc"},
		{typ: "local", loc: "/c", tag: "v1", where: "/c", mapTag: "v1.imgc"},
		{typ: "gha", loc: "x", fails: true},
	} {
		where, mapTag, err := imageio.BlobMapLocation(tc.typ, tc.loc, tc.tag)
		if (err != nil) != tc.fails || where != tc.where || mapTag != tc.mapTag {
			t.Errorf("BlobMapLocation(%q, %q, %q) = %q, %q, %v; want %q, %q, fails %v", tc.typ, tc.loc, tc.tag, where, mapTag, err, tc.where, tc.mapTag, tc.fails)
		}
	}
}

func writeIndex(t *testing.T, dir string, ds ...v1.Descriptor) {
	t.Helper()
	data, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, Manifests: ds})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readIndex(t *testing.T, dir string) *v1.IndexManifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatal(err)
	}
	return &idx
}
