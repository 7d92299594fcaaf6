package imageio_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// flakyRegistry is an in-process registry that fails a fraction of the
// requests, chosen by a seeded generator: a third answer 500, a third 503
// and a third lose the connection without an answer.
type flakyRegistry struct {
	h    http.Handler
	mu   sync.Mutex
	rnd  *rand.Rand
	rate float64
	// requests and failed count what it served.
	requests, failed int
}

func (f *flakyRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	fail, how := f.rnd.Float64() < f.rate, f.rnd.Intn(3)
	if fail {
		f.failed++
	}
	f.mu.Unlock()
	if !fail {
		f.h.ServeHTTP(w, r)
		return
	}
	switch how {
	case 0:
		http.Error(w, "injected failure", http.StatusInternalServerError)
	case 1:
		http.Error(w, "injected failure", http.StatusServiceUnavailable)
	default:
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.Close()
		}
	}
}

// storedImage puts a small image into a fresh store under name and
// returns the store and the image's digest.
func storedImage(t *testing.T, name string) (*store.Store, string) {
	t.Helper()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := writeLayout(t, smallImage(t, "hello"))
	b := ir.Base{Kind: ir.BaseOCILayout, Ref: imageref.MustParse("oci:" + dir), Key: ir.KeyOf([]byte(dir))}
	_, digest, err := imageio.PullBase(context.Background(), s, b, platform)
	if err != nil {
		t.Fatal(err)
	}
	h, err := v1.NewHash(digest)
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Image(h)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := descriptorOf(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.TagImages(desc, []string{name}); err != nil {
		t.Fatal(err)
	}
	return s, digest
}

func descriptorOf(img v1.Image) (v1.Descriptor, error) {
	raw, err := img.RawManifest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	h, n, err := v1.SHA256(bytes.NewReader(raw))
	return v1.Descriptor{MediaType: mt, Digest: h, Size: n}, err
}

// TestPushAndPullRetry: through a registry failing 30% of requests, ten
// pushes of ten succeed and the pushed images resolve and pull; with
// retries off, most fail (so the registry's failures are real).
func TestPushAndPullRetry(t *testing.T) {
	flaky := &flakyRegistry{h: registry.New(registry.Logger(log.New(io.Discard, "", 0))), rnd: rand.New(rand.NewSource(9)), rate: 0.3}
	srv := httptest.NewServer(flaky)
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	const stored = "localhost/imgc/flaky:v1"
	s, digest := storedImage(t, stored)
	fast := remote.Backoff{Duration: time.Millisecond, Factor: 1.6, Jitter: 0.2, Steps: 10}
	defer imageio.SetRegistryBackoff(fast, remote.Backoff{Duration: time.Millisecond, Factor: 2, Steps: 5})()

	ctx := context.Background()
	pushed := 0
	for i := 0; i < 10; i++ {
		// A new repository each time, so that every blob is uploaded.
		dest := fmt.Sprintf("%s/imgc/retry%d:v1", u.Host, i)
		if err := imageio.Push(ctx, s, stored, dest); err != nil {
			t.Errorf("push %d: %v", i, err)
			continue
		}
		pushed++
		dig, err := imageio.ResolveBase(ctx, imageref.MustParse(dest), platform)
		if err != nil || dig != digest {
			t.Errorf("resolving %s: %s, %v; want %s", dest, dig, err, digest)
		}
	}
	t.Logf("%d of 10 pushes succeeded; the registry failed %d of %d requests", pushed, flaky.failed, flaky.requests)

	// Pulling the layers of a pushed image (a fresh store has none).
	ref := u.Host + "/imgc/retry0:v1"
	b := ir.Base{Kind: ir.BaseRegistry, Ref: imageref.MustParse(ref), Digest: digest, Key: ir.KeyOf([]byte(digest))}
	fresh, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := imageio.PullBase(ctx, fresh, b, platform)
	if err != nil {
		t.Fatalf("pulling the pushed image: %v", err)
	}
	if len(st.Layers) != 1 || !fresh.HasBlob(st.Layers[0].Digest) {
		t.Errorf("pulled layers %+v, want the one layer stored", st.Layers)
	}

	// Without retries, the same registry makes most pushes fail.
	imageio.SetRegistryBackoff(remote.Backoff{Steps: 1}, remote.Backoff{Steps: 1})
	failed := 0
	for i := 0; i < 10; i++ {
		if err := imageio.Push(ctx, s, stored, fmt.Sprintf("%s/imgc/noretry%d:v1", u.Host, i)); err != nil {
			failed++
		}
	}
	if failed < 5 {
		t.Errorf("without retries %d of 10 pushes failed, want most: the registry does not fail as it should", failed)
	}
}

// TestAddInsecureRegistry: a cache's registry.insecure=true makes imgc's
// own requests to that registry plain HTTP, and no other registry's.
func TestAddInsecureRegistry(t *testing.T) {
	imageio.SetInsecureRegistries(nil)
	t.Cleanup(func() { imageio.SetInsecureRegistries(nil) })
	if err := imageio.AddInsecureRegistry("reg.example:5000/team/cache:main"); err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{"reg.example:5000/app:1": "http", "other.example/app:1": "https"} {
		r, err := imageio.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Context().Scheme(); got != want {
			t.Errorf("%s: scheme %s, want %s", ref, got, want)
		}
	}
	if err := imageio.AddInsecureRegistry("Not A Ref"); err == nil {
		t.Error("AddInsecureRegistry of a bad reference: no error")
	}
}
