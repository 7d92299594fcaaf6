package local_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/store"
)

// blobCounter passes requests to a registry, counting the blob downloads
// (GETs) by digest and the cross-repository mounts asked for.
type blobCounter struct {
	h      http.Handler
	mu     sync.Mutex
	gets   map[string]int
	mounts int
}

func (c *blobCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	if i := strings.Index(r.URL.Path, "/blobs/sha256:"); i >= 0 && r.Method == http.MethodGet {
		c.gets[r.URL.Path[i+len("/blobs/"):]]++
	}
	if r.Method == http.MethodPost && r.URL.Query().Get("mount") != "" {
		c.mounts++
	}
	c.mu.Unlock()
	c.h.ServeHTTP(w, r)
}

func (c *blobCounter) reset() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	gets, mounts := c.gets, c.mounts
	c.gets, c.mounts = map[string]int{}, 0
	return gets, mounts
}

// TestPushFromSharedCacheDownloadsNoLayer: a build whose only output is a
// push to the registry holding its --cache-from export downloads none of
// the cached layers: the stored image lists them as remote blobs, the push
// mounts them (distribution) or finds them (go-containerregistry's
// registry, whose blobs are not per repository), the pushed image is
// valid, and reading the stored image later downloads and checks them.
func TestPushFromSharedCacheDownloadsNoLayer(t *testing.T) {
	base := requireRuntime(t)
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) http.Handler
		mount bool
	}{
		{"ggcr", func(t *testing.T) http.Handler { reg, _ := startRegistry(t); return reg.h }, false},
		{"distribution", func(t *testing.T) http.Handler {
			u, _ := url.Parse("http://" + startDistribution(t))
			return httputil.NewSingleHostReverseProxy(u)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counter := &blobCounter{h: tc.start(t), gets: map[string]int{}}
			srv := httptest.NewServer(counter)
			t.Cleanup(srv.Close)
			host := strings.TrimPrefix(srv.URL, "http://")
			ref := host + "/imgc/cache:main"
			ctxDir := cacheContext(t, "one\n")
			s1 := openStore(t)
			p := cachePlan(t, base, ctxDir, "/usr/bin/app", defaultStamp)
			res1, _ := buildWith(t, s1, p, []string{"type=registry,ref=" + ref + ",mode=max"}, nil)
			var layers []v1.Hash
			for _, tg := range p.Targets {
				for _, l := range tg.Layers {
					if e := entryOf(t, s1, l.Key); !e.Empty {
						layers = append(layers, e.Digest)
					}
				}
			}

			s2 := openStore(t)
			s2.SetBlobFetcher(imageio.FetchRemoteBlob)
			p2 := cachePlan(t, base, ctxDir, "/usr/bin/app", defaultStamp)
			tag := host + "/imgc/app:1"
			p2.Targets[1].Tags = []string{tag}
			counter.reset()
			res2, ev, err := build(t, s2, p2, engine.BuildOptions{SourceDateEpoch: &cacheEpoch, Push: true, CacheFrom: cacheImports(t, []string{ref})})
			if err != nil {
				t.Fatalf("build: %v (warnings %q)", err, warnings(ev))
			}
			gets, mounts := counter.reset()
			for _, d := range layers {
				if n := gets[d.String()]; n > 0 {
					t.Errorf("the build downloaded layer %s %d times, want 0", d, n)
				}
			}
			if tc.mount && mounts == 0 {
				t.Errorf("the push mounted no blob")
			}
			if n := ev.count("start"); n != 0 {
				t.Errorf("the build ran %d layers, want 0", n)
			}
			if res2.Images[0].Digest != res1.Images[0].Digest {
				t.Errorf("pushed digest %s, built %s", res2.Images[0].Digest, res1.Images[0].Digest)
			}
			r, err := name.ParseReference(tag)
			if err != nil {
				t.Fatal(err)
			}
			img, err := remote.Image(r)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Image(img); err != nil {
				t.Errorf("the pushed image: %v", err)
			}
			checkRemoteBlobs(t, s2, res2)

			// mount=false: the layers are downloaded and checked, as for
			// any other output.
			s3 := openStore(t)
			counter.reset()
			if _, ev, err := build(t, s3, p2, engine.BuildOptions{SourceDateEpoch: &cacheEpoch, Push: true, CacheFrom: cacheImports(t, []string{"type=registry,ref=" + ref + ",mount=false"})}); err != nil {
				t.Fatalf("build: %v (warnings %q)", err, warnings(ev))
			}
			if gets, _ := counter.reset(); gets[layers[len(layers)-1].String()] != 1 {
				t.Errorf("with mount=false, the last layer was downloaded %d times, want 1", gets[layers[len(layers)-1].String()])
			}
			if _, ok := s3.RemoteBlob(layers[len(layers)-1]); ok || !s3.HasBlob(layers[len(layers)-1]) {
				t.Errorf("with mount=false, the last layer is not stored")
			}

			// Pushed to another registry later, the remote layers are
			// downloaded and checked first, never passed on unchecked.
			s4 := openStore(t)
			s4.SetBlobFetcher(imageio.FetchRemoteBlob)
			res4, ev, err := build(t, s4, p2, engine.BuildOptions{SourceDateEpoch: &cacheEpoch, Push: true, CacheFrom: cacheImports(t, []string{ref})})
			if err != nil {
				t.Fatalf("build: %v (warnings %q)", err, warnings(ev))
			}
			_, other := startRegistry(t)
			d4, _ := v1.NewHash(res4.Images[0].Digest)
			if err := imageio.PushDigest(context.Background(), s4, d4, other+"/elsewhere/app:1"); err != nil {
				t.Fatal(err)
			}
			if !s4.HasBlob(layers[len(layers)-1]) {
				t.Errorf("a push to another registry did not download the remote layer into the store")
			}
			r4, _ := name.ParseReference(other + "/elsewhere/app:1")
			if img, err := remote.Image(r4); err != nil {
				t.Error(err)
			} else if err := validate.Image(img); err != nil {
				t.Errorf("the image pushed elsewhere: %v", err)
			}
		})
	}
}

// checkRemoteBlobs: the stored image lacks its cached layers and knows
// where they are; a record with a wrong diff ID fails when read (and the
// blob is not kept); an export downloads and checks the rest.
func checkRemoteBlobs(t *testing.T, s *store.Store, res *engine.Result) {
	t.Helper()
	d, err := v1.NewHash(res.Images[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Image(d)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var remoteLayer *v1.Descriptor
	for i, l := range m.Layers {
		if _, ok := s.RemoteBlob(l.Digest); ok {
			remoteLayer = &m.Layers[i]
		}
	}
	if remoteLayer == nil {
		t.Fatal("the stored image has no remote blob")
	}
	rb, _ := s.RemoteBlob(remoteLayer.Digest)
	lying := rb
	lying.DiffID = remoteLayer.Digest
	if err := s.PutRemoteBlob(remoteLayer.Digest, lying); err != nil {
		t.Fatal(err)
	}
	err = imageio.WriteOutput(s, "oci", t.TempDir(), []imageio.Image{{Digest: d, Names: []string{"app"}}})
	if err == nil || !strings.Contains(err.Error(), "diff ID") {
		t.Errorf("exporting with a lying remote record: %v, want a diff ID error", err)
	}
	if s.HasBlob(remoteLayer.Digest) {
		t.Errorf("the blob that failed its diff ID is kept")
	}
	if err := s.PutRemoteBlob(remoteLayer.Digest, rb); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := imageio.WriteOutput(s, "oci", dir, []imageio.Image{{Digest: d, Names: []string{"app"}}}); err != nil {
		t.Fatal(err)
	}
	layoutImage(t, dir, "app")
	for _, l := range m.Layers {
		if _, ok := s.RemoteBlob(l.Digest); ok || !s.HasBlob(l.Digest) {
			t.Errorf("after the export, layer %s is still remote", l.Digest)
		}
	}
}
