package integration

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/buildkit"
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/internal/buildkittest"
	"github.com/imgc-dev/imgc/internal/testbase"
)

// blobLog is a loopback registry that records who fetched which layer
// blob (by User-Agent), and can refuse the builder's requests, as a
// registry the daemon cannot reach.
type blobLog struct {
	mu      sync.Mutex
	fetched map[string][]string // blob digest -> user agents
	refuse  bool
}

func (b *blobLog) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua := r.Header.Get("User-Agent")
		builder := strings.Contains(ua, "buildkit") || strings.Contains(ua, "containerd")
		b.mu.Lock()
		refuse := b.refuse && builder
		if i := strings.Index(r.URL.Path, "/blobs/"); i >= 0 && r.Method == http.MethodGet {
			who := "imgc"
			if builder {
				who = "builder"
			}
			d := r.URL.Path[i+len("/blobs/"):]
			b.fetched[d] = append(b.fetched[d], who)
		}
		b.mu.Unlock()
		if refuse {
			http.Error(w, "not for builders", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// busyboxInRegistry pushes testbase's busybox to a loopback registry (its
// handler wrapped by wrap) and returns its reference and the digest of its
// layer.
func busyboxInRegistry(t *testing.T, wrap func(http.Handler) http.Handler) (string, v1.Hash) {
	t.Helper()
	srv := httptest.NewServer(wrap(registry.New(registry.Logger(log.New(io.Discard, "", 0)))))
	t.Cleanup(srv.Close)
	img := testbase.BusyboxImage(t)
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/busybox:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("pushing the base: %v", err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	layer, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref.String(), layer
}

func (b *blobLog) who(d string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fetched[d]
}

// A registry base the daemon reaches is pulled by the daemon, by the
// pinned digest: imgc reads only its manifest and config, and the image is
// the local engine's. A daemon the registry refuses gets the base from
// imgc, which pulls it and serves it over the session, as before.
func TestBuildKitDaemonPullsRegistryBase(t *testing.T) {
	testbase.Require(t)
	buildkittest.Require(t)
	bl := &blobLog{fetched: map[string][]string{}}
	base, layer := busyboxInRegistry(t, bl.handler)
	p := compileHCL(t, filepath.Join("..", "examples", "hello"), map[string]string{"base": base})
	ep := epoch
	o := engine.BuildOptions{SourceDateEpoch: &ep}
	ls := newStore(t)
	loc := buildWith(t, local.New(ls), ls, p, o)

	for _, refuse := range []bool{false, true} {
		bl.mu.Lock()
		bl.refuse, bl.fetched = refuse, map[string][]string{}
		bl.mu.Unlock()
		// A fresh daemon: one that had the layer from an earlier build
		// would not fetch it.
		d, err := buildkittest.Start()
		if err != nil {
			t.Fatal(err)
		}
		bs := newStore(t)
		bk := buildWith(t, buildkit.New(bs, buildkit.Options{Addr: d.Addr}), bs, p, o)
		d.Stop()
		want := []string{"builder"}
		if refuse {
			want = []string{"imgc"}
		}
		if diff := cmp.Diff(want, bl.who(layer.String())); diff != "" {
			t.Errorf("refused=%v: the base layer was fetched by (-want +got):\n%s", refuse, diff)
		}
		if loc.res.Images[0].Digest != bk.res.Images[0].Digest {
			t.Errorf("refused=%v: local built %s, BuildKit %s", refuse, loc.res.Images[0].Digest, bk.res.Images[0].Digest)
		}
		if diff := cmp.Diff(loc.res.Pins, bk.res.Pins); diff != "" {
			t.Errorf("refused=%v: pins differ (-local +BuildKit):\n%s", refuse, diff)
		}
	}
}
