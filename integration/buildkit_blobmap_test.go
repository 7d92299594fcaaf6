package integration

import (
	"archive/tar"
	"bytes"
	"context"
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
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/internal/buildkittest"
	"github.com/imgc-dev/imgc/internal/testbase"
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
	ep := epoch
	// A map naming the base layer, with a blob of other content that is
	// what the map says it is.
	src := newStore(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "x", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()
	tarPath := filepath.Join(t.TempDir(), "x.tar")
	if err := os.WriteFile(tarPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	diff, _, err := v1.SHA256(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	other, err := src.PutLayerTar(tarPath, diff, "gzip")
	if err != nil {
		t.Fatal(err)
	}
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
	d, err := buildkittest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	s := newStore(t)
	b := buildWith(t, buildkit.New(s, buildkit.Options{Addr: d.Addr}), s, p, engine.BuildOptions{CacheFrom: []engine.CacheImport{from}, SourceDateEpoch: &ep})
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
