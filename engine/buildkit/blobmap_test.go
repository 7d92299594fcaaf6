package buildkit

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// oneFileLayer stores a gzip layer of one file holding content.
func oneFileLayer(t *testing.T, s *store.Store, content string) store.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "file", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write([]byte(content))
	tw.Close()
	f, err := s.TempFile("layer-*.tar")
	if err != nil {
		t.Fatal(err)
	}
	f.Write(buf.Bytes())
	f.Close()
	sum := sha256.Sum256(buf.Bytes())
	l, err := s.PutLayerTar(f.Name(), v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}, "gzip")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// buildKitCacheEntry names a manifest "latest" in the layout dir, as
// BuildKit's local cache export does: the cache a map goes beside.
func buildKitCacheEntry(t *testing.T, dir string) {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	man := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	h, size, err := v1.SHA256(bytes.NewReader(man))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WriteBlob(h, io.NopCloser(bytes.NewReader(man))); err != nil {
		t.Fatal(err)
	}
	if err := p.AppendDescriptor(v1.Descriptor{MediaType: types.OCIImageIndex, Digest: h, Size: size,
		Annotations: map[string]string{ocispecs.AnnotationRefName: "latest"}}); err != nil {
		t.Fatal(err)
	}
}

// A forged map cannot pass one blob off as another content: not by
// naming another content for it (the download is checked against the
// content the entry gives), nor by a second entry that gives the same
// blob its true content and is downloaded first (the map is refused).
// Neither is claimed, so the daemon sends its own blob.
func TestBlobMapsRefuseForgeries(t *testing.T) {
	ctx := context.Background()
	src, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	evil := oneFileLayer(t, src, "evil")
	good := oneFileLayer(t, src, "good") // what the daemon built
	daemonBlob := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}
	other := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}
	key := ir.KeyOf([]byte("a key of the plan"))
	lying := imageio.BlobMapEntry{Builder: daemonBlob, Compression: "gzip", Digest: evil.Digest, DiffID: good.DiffID, Size: evil.Size, MediaType: evil.MediaType}
	honest := imageio.BlobMapEntry{Builder: other, Compression: "gzip", Digest: evil.Digest, DiffID: evil.DiffID, Size: evil.Size, MediaType: evil.MediaType, Key: key}
	desc := ocispecs.Descriptor{MediaType: string(types.OCILayer), Digest: digest.Digest(daemonBlob.String()), Size: good.Size}

	for _, tc := range []struct {
		name    string
		entries []imageio.BlobMapEntry
		warning string
	}{
		{name: "another content", entries: []imageio.BlobMapEntry{lying}, warning: "not using imgc's blob " + evil.Digest.String()},
		{name: "two contents", entries: []imageio.BlobMapEntry{honest, lying}, warning: "gives blob " + evil.Digest.String() + " two contents"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			buildKitCacheEntry(t, dir)
			if err := imageio.ExportBlobMap(ctx, src, "local", dir, "", tc.entries); err != nil {
				t.Fatal(err)
			}
			s, err := store.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			m := openBlobMaps(ctx, s, []engine.CacheImport{{Type: "local", Src: dir}}, "gzip", map[ir.CacheKey]bool{key: true})
			defer m.wait()
			if m.claim(ctx, desc) {
				t.Error("the daemon's blob was claimed for a forged entry")
			}
			if cl, _, ok := m.layer(store.Layer{Digest: daemonBlob, DiffID: good.DiffID, Size: good.Size}); ok {
				t.Errorf("the daemon's layer was given blob %s", cl.Digest)
			}
			var warnings []string
			m.report(func(ev engine.Event) { warnings = append(warnings, ev.Line) })
			if len(warnings) != 1 || !strings.Contains(warnings[0], tc.warning) {
				t.Errorf("warnings %q, want one saying %q", warnings, tc.warning)
			}
		})
	}
}

// A blob the map covers is claimed, but not a layer of a base the daemon
// pulls, nor for an entry of a size no compression of the same layer has
// (plausibleSize).
func TestBlobMapsClaims(t *testing.T) {
	ctx := context.Background()
	src, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l := oneFileLayer(t, src, "layer")
	daemonBlob := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}
	dir := t.TempDir()
	if err := imageio.ExportBlobMap(ctx, src, "local", dir, "", []imageio.BlobMapEntry{
		{Builder: daemonBlob, Compression: "gzip", Digest: l.Digest, DiffID: l.DiffID, Size: l.Size, MediaType: l.MediaType},
	}); err != nil {
		t.Fatal(err)
	}
	// Whether the export store tells the daemon it has the blob.
	claims := func(size int64, base bool) bool {
		s, err := store.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		m := openBlobMaps(ctx, s, []engine.CacheImport{{Type: "local", Src: dir}}, "gzip", nil)
		defer m.wait()
		e := newExportStore(s)
		e.maps = m
		if base {
			e.keepBase(daemonBlob)
		}
		w, err := e.Writer(ctx, content.WithRef("blob"), content.WithDescriptor(ocispecs.Descriptor{Digest: digest.Digest(daemonBlob.String()), Size: size}))
		if err == nil {
			w.Close()
			return false
		}
		if !errdefs.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		return e.holds(daemonBlob)
	}
	if !claims(l.Size, false) {
		t.Error("a layer the map covers was not claimed")
	}
	if claims(l.Size, true) {
		t.Error("a layer of a base the daemon pulls was claimed")
	}

	for _, tc := range []struct {
		ours, theirs int64
		ok           bool
	}{
		{100, 90, true}, {250 << 20, 242 << 20, true}, {10 << 20, 0, true},
		{3 << 20, 1 << 20, true}, {4 << 20, 1 << 20, false}, {1 << 30, 1 << 20, false},
	} {
		if got := plausibleSize(tc.ours, tc.theirs); got != tc.ok {
			t.Errorf("plausibleSize(%d, %d) = %v, want %v", tc.ours, tc.theirs, got, tc.ok)
		}
	}
}

// The daemon waits for imgc's blob no longer than fetchTimeout (plus a
// second per MiB of its own blob), even when the registry never answers:
// then it sends its own, with a warning.
func TestBlobMapsClaimWaitIsBounded(t *testing.T) {
	defer func(d time.Duration) { fetchTimeout = d }(fetchTimeout)
	fetchTimeout = 300 * time.Millisecond
	ctx := context.Background()
	src, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l := oneFileLayer(t, src, "layer")
	stall := make(chan struct{})
	defer close(stall)
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+l.Digest.String()) {
			select {
			case <-stall:
			case <-r.Context().Done():
			}
			return
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/cache:main"
	daemonBlob := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}
	if err := imageio.ExportBlobMap(ctx, src, "registry", ref, "", []imageio.BlobMapEntry{
		{Builder: daemonBlob, Compression: "gzip", Digest: l.Digest, DiffID: l.DiffID, Size: l.Size, MediaType: l.MediaType},
	}); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := openBlobMaps(ctx, s, []engine.CacheImport{{Type: "registry", Ref: ref}}, "gzip", nil)
	defer m.wait()
	start := time.Now()
	if m.claim(ctx, ocispecs.Descriptor{Digest: digest.Digest(daemonBlob.String()), Size: 100}) {
		t.Fatal("a blob the registry never sent was claimed")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the claim waited %v", d)
	}
	var warnings []string
	m.report(func(ev engine.Event) { warnings = append(warnings, ev.Line) })
	// The claim's wait and the download end at about the same time: either
	// says so.
	if len(warnings) != 1 || !strings.Contains(warnings[0], "imgc's blob "+l.Digest.String()) {
		t.Errorf("warnings %q, want one that the daemon sends its own", warnings)
	}
}

// A build that ends before the maps are read waits for them a little,
// then says which caches it could not check; maps read by then report
// their problems.
func TestBlobMapsReportEnd(t *testing.T) {
	var got []string
	emit := func(ev engine.Event) { got = append(got, ev.Kind+": "+ev.Line) }
	m := &blobMaps{ready: make(chan struct{}), names: []string{"registry:r.example/app:cache"}}
	m.reportEnd(emit, 10*time.Millisecond)
	want := "warning: the caches registry:r.example/app:cache did not answer within 10ms: imgc could not check them, nor use its blobs beside them"
	if len(got) != 1 || got[0] != want {
		t.Errorf("unread maps: %q, want %q", got, want)
	}
	got = nil
	m.problem("the cache %s cannot be read", "registry:r.example/app:cache")
	go func() {
		time.Sleep(5 * time.Millisecond)
		close(m.ready)
	}()
	m.reportEnd(emit, time.Minute)
	if len(got) != 1 || got[0] != "warning: the cache registry:r.example/app:cache cannot be read" {
		t.Errorf("maps read during the wait: %q, want their problem", got)
	}
	(*blobMaps)(nil).reportEnd(emit, time.Minute) // no caches: nothing to say, no wait
}
