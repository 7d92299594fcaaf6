package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/buildkit"
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/internal/buildkittest"
	"github.com/imgc-dev/imgc/internal/testbase"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// A shared cache the BuildKit engine exports (--cache-to, type=local or
// registry) carries imgc's blobs of the layers it built and a map from
// the daemon's blobs to them: a build in a fresh store, on a fresh daemon,
// that imports the cache downloads imgc's blobs instead of compressing the
// daemon's layers again, and gives the same image. A blob that fails its
// check is refused with a warning and the layer compressed again, as
// before; so is every layer when the export was told imgc-blobs=false.
func TestBuildKitCacheBlobMap(t *testing.T) {
	testbase.Require(t)
	addr := buildkittest.Require(t)
	bl := &blobLog{fetched: map[string][]string{}}
	srv := httptest.NewServer(bl.handler(registry.New(registry.Logger(log.New(io.Discard, "", 0)))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	base := testbase.Busybox(t)
	dir := unseenHello(t)
	p := compileHCL(t, dir, map[string]string{"base": "oci:" + base + ":latest"})
	ep := epoch

	for _, tc := range []struct {
		name, typ, loc string
	}{
		{name: "local", typ: "local"},
		{name: "registry", typ: "registry", loc: host + "/cache:main"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loc := tc.loc
			if tc.typ == "local" {
				loc = filepath.Join(t.TempDir(), "cache")
			}
			attr := map[string]string{"local": "dest=" + loc, "registry": "ref=" + loc}[tc.typ]
			to, err := engine.ParseCacheExport("type=" + tc.typ + ",mode=max," + attr)
			if err != nil {
				t.Fatal(err)
			}
			src := map[string]string{"local": "src=" + loc, "registry": "ref=" + loc}[tc.typ]
			from, err := engine.ParseCacheImport("type=" + tc.typ + "," + src)
			if err != nil {
				t.Fatal(err)
			}
			s1 := newStore(t)
			first := buildWith(t, buildkit.New(s1, buildkit.Options{Addr: addr}), s1, p, engine.BuildOptions{CacheTo: []engine.CacheExport{to}, SourceDateEpoch: &ep})
			bm, err := imageio.OpenBlobMap(context.Background(), tc.typ, loc, "")
			if err != nil || bm == nil {
				t.Fatalf("the export left no blob map beside the cache: %v", err)
			}
			if bm.Len() == 0 {
				t.Fatal("the blob map is empty")
			}

			importing := func(t *testing.T) *built {
				t.Helper()
				fresh, err := buildkittest.Start()
				if err != nil {
					t.Fatal(err)
				}
				defer fresh.Stop()
				s := newStore(t)
				b := buildWith(t, buildkit.New(s, buildkit.Options{Addr: fresh.Addr}), s, p, engine.BuildOptions{CacheFrom: []engine.CacheImport{from}, SourceDateEpoch: &ep})
				if ran := b.ran(); len(ran) != 0 {
					t.Errorf("a fresh daemon importing the cache ran %v, want no layer", ran)
				}
				if b.res.Images[0].Digest != first.res.Images[0].Digest {
					t.Errorf("the import built %s, the exporting build %s", b.res.Images[0].Digest, first.res.Images[0].Digest)
				}
				// A rebuild is sent nothing: the daemon's layers imgc holds
				// its own blobs of are not sent either, though the store
				// lacks the daemon's.
				again := buildWith(t, buildkit.New(s, buildkit.Options{Addr: fresh.Addr}), s, p, engine.BuildOptions{SourceDateEpoch: &ep})
				if got := lines(again.events, "received", "from the builder"); len(got) != 1 || !strings.HasPrefix(got[0], "received 0 of ") {
					t.Errorf("the rebuild says %q, want that it received nothing", got)
				}
				if again.res.Images[0].Digest != b.res.Images[0].Digest {
					t.Errorf("the rebuild built %s, the import %s", again.res.Images[0].Digest, b.res.Images[0].Digest)
				}
				return b
			}
			b := importing(t)
			// The daemon sends the manifest and config, and no layer: the
			// base's are served by imgc, the others' are imgc's from beside
			// the cache.
			if got := lines(b.events, "received", "from the builder"); len(got) != 1 || !strings.HasPrefix(got[0], "received 2 of ") {
				t.Errorf("the import says %q, want that it received 2 blobs (the manifest and config)", got)
			}
			if got, want := lines(b.events, "received", "not compressed again"), []string{fmt.Sprintf("%d layers as imgc compressed them, from %s:%s: not compressed again", bm.Len(), tc.typ, mapWhere(t, tc.typ, loc))}; !cmp.Equal(got, want) {
				t.Errorf("what the import says of the blob map (-want +got):\n%s", cmp.Diff(want, got))
			}
			if w := lines(b.events, "warning", ""); len(w) != 0 {
				t.Errorf("warnings: %q", w)
			}
			if tc.typ != "local" {
				return
			}
			// A blob of imgc's that is not what the map says is refused.
			img := first.image(t)
			ls, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			d, err := ls[len(ls)-1].Digest()
			if err != nil {
				t.Fatal(err)
			}
			blob := filepath.Join(loc, "blobs", d.Algorithm, d.Hex)
			data, err := os.ReadFile(blob)
			if err != nil {
				t.Fatalf("imgc's blob of the last layer is not in the cache: %v", err)
			}
			data[len(data)/2] ^= 0xff
			if err := os.WriteFile(blob, data, 0o644); err != nil {
				t.Fatal(err)
			}
			b = importing(t)
			if w := lines(b.events, "warning", "not using imgc's blob "+d.String()); len(w) != 1 {
				t.Errorf("refusing a corrupt blob: warnings %q, want one about %s", lines(b.events, "warning", ""), d)
			}
			if got := lines(b.events, "received", "from the builder"); len(got) != 1 || !strings.HasPrefix(got[0], "received 3 of ") {
				t.Errorf("the import with a corrupt blob says %q, want that it received 3 blobs (its layer's too)", got)
			}
			// imgc-blobs=false writes no map.
			bare := filepath.Join(t.TempDir(), "bare")
			to, err = engine.ParseCacheExport("type=local,mode=max,imgc-blobs=false,dest=" + bare)
			if err != nil {
				t.Fatal(err)
			}
			buildWith(t, buildkit.New(s1, buildkit.Options{Addr: addr}), s1, p, engine.BuildOptions{CacheTo: []engine.CacheExport{to}, SourceDateEpoch: &ep})
			if bm, err := imageio.OpenBlobMap(context.Background(), "local", bare, ""); bm != nil || err != nil {
				t.Errorf("an export with imgc-blobs=false left a blob map (%v)", err)
			}
			if _, err := os.Stat(filepath.Join(bare, "index.json")); err != nil {
				t.Errorf("an export with imgc-blobs=false exported no cache: %v", err)
			}
		})
	}
}

// lines are the Lines of the events of kind that contain sub.
func lines(events []engine.Event, kind, sub string) []string {
	var out []string
	for _, ev := range events {
		if ev.Kind == kind && strings.Contains(ev.Line, sub) {
			out = append(out, ev.Line)
		}
	}
	return out
}

// mapWhere is where the blob map of the cache typ:loc is, as imgc names it.
func mapWhere(t *testing.T, typ, loc string) string {
	t.Helper()
	where, _, err := imageio.BlobMapLocation(typ, loc, "")
	if err != nil {
		t.Fatal(err)
	}
	return where
}

// A map beside a cache cannot make the daemon skip a layer of a base it
// pulls itself (kept as it is, never imgc's blob): the image's every blob
// is in the store.
func TestBuildKitCacheBlobMapKeepsBaseLayers(t *testing.T) {
	testbase.Require(t)
	buildkittest.Require(t)
	base, baseLayer := busyboxInRegistry(t, func(h http.Handler) http.Handler { return h })
	p := compileHCL(t, unseenHello(t), map[string]string{"base": base})
	// A map naming the base layer, with a blob of other content that is
	// what the map says it is.
	src := newStore(t)
	other := oneFileLayer(t, src, "x")
	loc := filepath.Join(t.TempDir(), "cache")
	if err := imageio.ExportBlobMap(context.Background(), src, "local", loc, "", []imageio.BlobMapEntry{
		{Builder: baseLayer, Compression: "gzip", Digest: other.Digest, DiffID: other.DiffID, Size: other.Size, MediaType: other.MediaType},
	}); err != nil {
		t.Fatal(err)
	}
	from, err := engine.ParseCacheImport("type=local,src=" + loc)
	if err != nil {
		t.Fatal(err)
	}
	// A fresh daemon, which pulls the base and sends its layer.
	b := importFresh(t, p, from)
	s := b.s
	m, err := b.image(t).Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Layers[0].Digest != baseLayer {
		t.Errorf("the image's first layer is %s, want the base's %s", m.Layers[0].Digest, baseLayer)
	}
	for _, l := range m.Layers {
		if !s.HasBlob(l.Digest) {
			t.Errorf("the image names layer %s, which the store lacks", l.Digest)
		}
	}
}

// A forged map that gives a layer of the daemon's another blob, one that
// is honestly what the map says but not that layer, makes the daemon skip
// the layer; the engine then exports the image again with every blob sent,
// and the image is the daemon's, with a warning.
func TestBuildKitCacheBlobMapForgedLayer(t *testing.T) {
	testbase.Require(t)
	addr := buildkittest.Require(t)
	base := testbase.Busybox(t)
	p := compileHCL(t, unseenHello(t), map[string]string{"base": "oci:" + base + ":latest"})
	ep := epoch
	loc := filepath.Join(t.TempDir(), "cache")
	to, err := engine.ParseCacheExport("type=local,mode=max,dest=" + loc)
	if err != nil {
		t.Fatal(err)
	}
	from, err := engine.ParseCacheImport("type=local,src=" + loc)
	if err != nil {
		t.Fatal(err)
	}
	s1 := newStore(t)
	first := buildWith(t, buildkit.New(s1, buildkit.Options{Addr: addr}), s1, p, engine.BuildOptions{CacheTo: []engine.CacheExport{to}, SourceDateEpoch: &ep})

	// The map as exported, its first entry pointing at another layer.
	var idx v1.IndexManifest
	readJSONFile(t, filepath.Join(loc, "index.json"), &idx)
	var cfg imageio.BlobMapConfig
	for _, d := range idx.Manifests {
		if d.ArtifactType == imageio.BlobMapArtifactType {
			var m v1.Manifest
			readJSONFile(t, filepath.Join(loc, "blobs", d.Digest.Algorithm, d.Digest.Hex), &m)
			readJSONFile(t, filepath.Join(loc, "blobs", m.Config.Digest.Algorithm, m.Config.Digest.Hex), &cfg)
		}
	}
	if len(cfg.Blobs) == 0 {
		t.Fatal("the export wrote no blob map")
	}
	forged := oneFileLayer(t, s1, "forged")
	e := &cfg.Blobs[0]
	e.Digest, e.DiffID, e.Size, e.MediaType = forged.Digest, forged.DiffID, forged.Size, forged.MediaType
	if err := imageio.ExportBlobMap(context.Background(), s1, "local", loc, "", cfg.Blobs); err != nil {
		t.Fatal(err)
	}

	b := importFresh(t, p, from)
	s := b.s
	if b.res.Images[0].Digest != first.res.Images[0].Digest {
		t.Errorf("the import built %s, the exporting build %s", b.res.Images[0].Digest, first.res.Images[0].Digest)
	}
	if w := lines(b.events, "warning", "again, with every blob sent"); len(w) != 1 || !strings.Contains(w[0], e.Builder.String()) {
		t.Errorf("warnings %q, want one that the export of the daemon's %s starts again", lines(b.events, "warning", ""), e.Builder)
	}
	m, err := b.image(t).Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		if l.Digest == forged.Digest || !s.HasBlob(l.Digest) {
			t.Errorf("the image has layer %s (forged: %s; in the store: %v)", l.Digest, forged.Digest, s.HasBlob(l.Digest))
		}
	}
}

func readJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

// oneFileLayer stores in s a gzip layer of one file, named and holding
// content.
func oneFileLayer(t *testing.T, s *store.Store, content string) store.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: content, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write([]byte(content))
	tw.Close()
	path := filepath.Join(t.TempDir(), "layer.tar")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	diff, _, err := v1.SHA256(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.PutLayerTar(path, diff, "gzip")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// importFresh builds p with SOURCE_DATE_EPOCH at epoch, importing the
// cache from, in a fresh store on a fresh daemon, stopped once it is done.
func importFresh(t *testing.T, p *ir.Plan, from engine.CacheImport) *built {
	t.Helper()
	fresh, err := buildkittest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Stop()
	ep := epoch
	s := newStore(t)
	return buildWith(t, buildkit.New(s, buildkit.Options{Addr: fresh.Addr}), s, p, engine.BuildOptions{CacheFrom: []engine.CacheImport{from}, SourceDateEpoch: &ep})
}

// A --cache-from that cannot be read is a warning saying so (BuildKit
// says nothing of it in imgc's builds), not a silent full build.
func TestBuildKitCacheFromMissing(t *testing.T) {
	testbase.Require(t)
	addr := buildkittest.Require(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	down := downRegistry(t)
	p := compileHCL(t, unseenHello(t), map[string]string{"base": "oci:" + testbase.Busybox(t) + ":latest"})
	// The local engine's cache, which BuildKit cannot read.
	localCache := filepath.Join(t.TempDir(), "local-engine-cache")
	to, err := engine.ParseCacheExport("type=local,dest=" + localCache)
	if err != nil {
		t.Fatal(err)
	}
	ls := newStore(t)
	buildWith(t, local.New(ls), ls, p, engine.BuildOptions{CacheTo: []engine.CacheExport{to}})
	for _, from := range []string{
		"type=local,src=" + filepath.Join(t.TempDir(), "nothere"),
		"type=registry,ref=" + strings.TrimPrefix(srv.URL, "http://") + "/app/cache:nothere",
		"type=registry,ref=" + down + "/app/cache:main", // a registry that is down
		"type=local,src=" + localCache,
	} {
		imp, err := engine.ParseCacheImport(from)
		if err != nil {
			t.Fatal(err)
		}
		s := newStore(t)
		b := buildWith(t, buildkit.New(s, buildkit.Options{Addr: addr}), s, p, engine.BuildOptions{CacheFrom: []engine.CacheImport{imp}})
		if w := lines(b.events, "warning", "cannot be read, so nothing is imported from it"); len(w) != 1 {
			t.Errorf("%s: warnings %q, want one that the cache cannot be read", from, lines(b.events, "warning", ""))
		}
		if strings.Contains(from, localCache) && len(lines(b.events, "warning", "the cache of imgc's local engine")) != 1 {
			t.Errorf("%s: warnings %q, want one that it is the local engine's cache", from, lines(b.events, "warning", ""))
		}
	}
}
