package imageio_test

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// storedLayer puts a one-file layer into s and returns its entry.
func storedLayer(t *testing.T, s *store.Store, content string) store.Entry {
	t.Helper()
	f, err := s.TempFile("layer-*.tar")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	tw := tar.NewWriter(f)
	tw.WriteHeader(&tar.Header{Name: "file", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write([]byte(content))
	tw.Close()
	f.Close()
	data, _ := os.ReadFile(f.Name())
	h.Write(data)
	diff := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
	l, err := s.PutLayerTar(f.Name(), diff, "gzip")
	if err != nil {
		t.Fatal(err)
	}
	return store.Entry{Digest: l.Digest, DiffID: l.DiffID, Size: l.Size, MediaType: l.MediaType}
}

func TestCacheLayoutRoundTripAndSanitizing(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k1, k2 := ir.KeyOf([]byte("one")), ir.KeyOf([]byte("two"))
	e := storedLayer(t, s, "hello\n")
	cfg := &imageio.CacheConfig{
		Records: []imageio.CacheRecord{{Key: k1, Entry: e}, {Key: k2, Entry: store.Entry{Digest: e.DiffID, DiffID: e.DiffID, Empty: true}}},
		Targets: map[string][]*ir.Layer{"app": {{Name: "evil\x1b[31m", Key: k1, Inputs: []ir.KeyInput{{Name: "file \x1b]0;title\x07", Value: "v"}}}}},
	}
	dir := filepath.Join(t.TempDir(), "cache")
	if err := imageio.ExportCache(ctx, s, "local", dir, cfg, nil); err != nil {
		t.Fatal(err)
	}
	src, err := imageio.OpenCache(ctx, "oci", dir)
	if err != nil {
		t.Fatal(err)
	}
	if src.Len() != 2 {
		t.Errorf("%d records, want 2", src.Len())
	}
	rec, problem, ok := src.Lookup(k1)
	if !ok || problem != "" {
		t.Fatalf("Lookup(k1) = %v, %q", ok, problem)
	}
	if diff := cmp.Diff(e, rec.Entry); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	l := src.Targets["app"][0]
	if l.Name != "evil?[31m" || l.Inputs[0].Name != "file ?]0;title?" {
		t.Errorf("imported layer not sanitized: %q, %q", l.Name, l.Inputs[0].Name)
	}
	s2, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Fetch(ctx, s2, rec); err != nil {
		t.Fatal(err)
	}
	if !s2.HasBlob(e.Digest) {
		t.Errorf("Fetch stored no blob")
	}
	// A layout without an imgc cache is no cache.
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(`{"schemaVersion":2,"manifests":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := imageio.OpenCache(ctx, "local", dir); err == nil || !strings.Contains(err.Error(), "names no imgc cache") {
		t.Errorf("OpenCache of a layout without a cache: %v", err)
	}
	if _, err := imageio.OpenCache(ctx, "local", filepath.Join(dir, "missing")); err == nil {
		t.Errorf("OpenCache of a missing directory succeeded")
	}
}
