package buildkit

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/buildkit/client"
	"google.golang.org/grpc"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// scratchPlan is a plan of one image with nothing in it.
func scratchPlan() *ir.Plan {
	return &ir.Plan{Project: "/nowhere", Targets: []*ir.Target{{
		Name: "app", Kind: ir.KindImage, Output: true,
		Base:     ir.Base{Kind: ir.BaseScratch, Key: ir.CacheKey{}},
		Platform: ir.Platform{OS: "linux", Architecture: "amd64"},
	}}}
}

// buildOn builds with a context that has no deadline: the engine must give
// up on a builder by itself. The two minutes are a hang guard.
func buildOn(t *testing.T, addr string) error {
	t.Helper()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := New(s, Options{Addr: addr}).Build(ctx, scratchPlan(), engine.BuildOptions{})
		errc <- err
	}()
	select {
	case err := <-errc:
		return err
	case <-time.After(2 * time.Minute):
		t.Fatalf("the build on %s hung: it waits for the builder without end", addr)
		return nil
	}
}

func TestUnreachableBuilder(t *testing.T) {
	err := buildOn(t, "unix://"+filepath.Join(t.TempDir(), "none.sock"))
	var be *BuilderError
	if !errors.As(err, &be) || be.Summary != "cannot reach the builder" {
		t.Fatalf("error %v, want a BuilderError \"cannot reach the builder\"", err)
	}
}

// A server that speaks gRPC but not BuildKit's control API (Info, and
// everything after it) stands for a daemon too old to have it.
func TestBuilderWithoutInfo(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "old.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	go srv.Serve(l)
	defer srv.Stop()
	err = buildOn(t, "unix://"+sock)
	var be *BuilderError
	if !errors.As(err, &be) || be.Summary != "the builder is too old" {
		t.Fatalf("error %v, want a BuilderError \"the builder is too old\"", err)
	}
	if !strings.Contains(be.Detail, MinVersion) {
		t.Errorf("detail %q does not name %s", be.Detail, MinVersion)
	}
}

func TestCheckVersion(t *testing.T) {
	for v, ok := range map[string]bool{"v0.34.2": true, "v0.13.0": true, "v0.12.5": false, "v0.9.0": false, "dev": true, "": true} {
		if err := checkVersion(v); (err == nil) != ok {
			t.Errorf("checkVersion(%q) = %v, want ok %v", v, err, ok)
		}
	}
}

func TestInvalidAddress(t *testing.T) {
	err := buildOn(t, "ftp://somewhere")
	var be *BuilderError
	if !errors.As(err, &be) || be.Summary != "invalid builder address" {
		t.Fatalf("error %v, want a BuilderError \"invalid builder address\"", err)
	}
}

func TestCacheEntries(t *testing.T) {
	to, err := engine.ParseCacheExport("type=oci,dest=/c,mode=max")
	if err != nil {
		t.Fatal(err)
	}
	from, err := engine.ParseCacheImport("r.example/app:cache")
	if err != nil {
		t.Fatal(err)
	}
	exports, imports := cacheEntries([]engine.CacheExport{to}, []engine.CacheImport{from})
	want := []client.CacheOptionsEntry{{Type: "local", Attrs: map[string]string{"dest": "/c", "mode": "max"}}}
	if diff := cmp.Diff(want, exports); diff != "" {
		t.Errorf("exports (-want +got):\n%s", diff)
	}
	want = []client.CacheOptionsEntry{{Type: "registry", Attrs: map[string]string{"ref": "r.example/app:cache"}}}
	if diff := cmp.Diff(want, imports); diff != "" {
		t.Errorf("imports (-want +got):\n%s", diff)
	}
}
