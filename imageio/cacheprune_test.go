package imageio_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// TestCacheLayoutKeepsTwoExports: a cache directory keeps the blobs of its
// last export and of the one before (for readers of that one's index),
// and no older ones; a layout that also holds other images is never
// pruned.
func TestCacheLayoutKeepsTwoExports(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "cache")
	var entries []store.Entry
	for i, content := range []string{"one\n", "two\n", "three\n"} {
		e := storedLayer(t, s, content)
		entries = append(entries, e)
		cfg := &imageio.CacheConfig{Records: []imageio.CacheRecord{{Key: ir.KeyOf([]byte(content)), Entry: e}}}
		if err := imageio.ExportCache(ctx, s, "local", dir, cfg, nil); err != nil {
			t.Fatalf("export %d: %v", i+1, err)
		}
	}
	has := func(e store.Entry) bool {
		_, err := os.Stat(filepath.Join(dir, "blobs", "sha256", e.Digest.Hex))
		return err == nil
	}
	if has(entries[0]) {
		t.Errorf("the first export's layer is kept after two more exports")
	}
	if !has(entries[1]) || !has(entries[2]) {
		t.Errorf("the last two exports' layers: %v, %v, want both kept", has(entries[1]), has(entries[2]))
	}
	src, err := imageio.OpenCache(ctx, "local", dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, problem, ok := src.Lookup(ir.KeyOf([]byte("three\n"))); !ok || problem != "" {
		t.Errorf("the last export's record: %v, %q", ok, problem)
	}
	des, _ := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if len(des) != 6 {
		t.Errorf("%d blobs, want 6 (two exports' layer, config and manifest)", len(des))
	}

	// A layout naming another image besides: the image stays in its
	// index.json, and nothing is removed.
	foreign := []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + entries[1].Digest.Hex + `","size":1}]}`)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), foreign, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, content := range []string{"four\n", "five\n"} {
		e := storedLayer(t, s, content)
		cfg := &imageio.CacheConfig{Records: []imageio.CacheRecord{{Key: ir.KeyOf([]byte(content)), Entry: e}}}
		if err := imageio.ExportCache(ctx, s, "oci", dir, cfg, nil); err != nil {
			t.Fatal(err)
		}
		if !has(entries[1]) || !has(entries[2]) {
			t.Errorf("an export into a layout naming another image removed blobs")
		}
	}
	if idx, err := os.ReadFile(filepath.Join(dir, "index.json")); err != nil || !bytes.Contains(idx, []byte(entries[1].Digest.Hex)) {
		t.Errorf("the export dropped the other image from index.json: %s", idx)
	}
	if _, err := imageio.OpenCache(ctx, "oci", dir); err != nil {
		t.Errorf("the cache beside an image: %v", err)
	}
}
