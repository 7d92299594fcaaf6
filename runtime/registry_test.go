package runtime_test

import (
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
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imgc-dev/imgc/ir"
	imgcrt "github.com/imgc-dev/imgc/runtime"
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

// TestPushAndPullRetry: through a registry failing 30% of requests, ten
// pushes of ten succeed and the pushed images resolve and pull; with
// retries off, most fail (so the registry's failures are real).
func TestPushAndPullRetry(t *testing.T) {
	base := requireRuntime(t)
	flaky := &flakyRegistry{h: registry.New(registry.Logger(log.New(io.Discard, "", 0))), rnd: rand.New(rand.NewSource(9)), rate: 0.3}
	srv := httptest.NewServer(flaky)
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	s := openStore(t)
	tg := target("app", busyboxBase(base), layerOf("hello", sh("echo hello > /hello")), layerOf("bye", sh("echo bye > /bye")))
	tg.Tags = []string{"localhost/imgc/flaky:v1"}
	res, _, err := build(t, s, &ir.Plan{Project: "flaky", Targets: []*ir.Target{tg}}, imgcrt.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fast := remote.Backoff{Duration: time.Millisecond, Factor: 1.6, Jitter: 0.2, Steps: 10}
	defer imgcrt.SetRegistryBackoff(fast, remote.Backoff{Duration: time.Millisecond, Factor: 2, Steps: 5})()

	ctx := context.Background()
	pushed := 0
	for i := 0; i < 10; i++ {
		// A new repository each time, so that every blob is uploaded.
		dest := fmt.Sprintf("%s/imgc/retry%d:v1", u.Host, i)
		if err := s.Push(ctx, tg.Tags[0], dest); err != nil {
			t.Errorf("push %d: %v", i, err)
			continue
		}
		pushed++
		dig, err := s.ResolveBase(ctx, ir.BaseRegistry, dest, platform)
		if err != nil || dig != res.Images[0].Digest {
			t.Errorf("resolving %s: %s, %v; want %s", dest, dig, err, res.Images[0].Digest)
		}
	}
	t.Logf("%d of 10 pushes succeeded; the registry failed %d of %d requests", pushed, flaky.failed, flaky.requests)

	// Pulling the layers of a pushed image (a fresh store has none).
	ref := u.Host + "/imgc/retry0:v1"
	b := ir.Base{Kind: ir.BaseRegistry, Ref: ref, Digest: res.Images[0].Digest, Key: ir.KeyOf([]byte(res.Images[0].Digest))}
	if _, _, err := build(t, openStore(t), &ir.Plan{Project: "pull", Targets: []*ir.Target{target("child", b, layerOf("check", sh("test -f /hello -a -f /bye")))}}, imgcrt.BuildOptions{}); err != nil {
		t.Errorf("building on the pushed image: %v", err)
	}

	// Without retries, the same registry makes most pushes fail.
	imgcrt.SetRegistryBackoff(remote.Backoff{Steps: 1}, remote.Backoff{Steps: 1})
	failed := 0
	for i := 0; i < 10; i++ {
		if err := s.Push(ctx, tg.Tags[0], fmt.Sprintf("%s/imgc/noretry%d:v1", u.Host, i)); err != nil {
			failed++
		}
	}
	if failed < 5 {
		t.Errorf("without retries %d of 10 pushes failed, want most: the registry does not fail as it should", failed)
	}
}
