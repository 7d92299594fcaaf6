package integration

import (
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/imgc-dev/imgc/compiler"
	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/buildkit"
	"github.com/imgc-dev/imgc/internal/buildkittest"
	"github.com/imgc-dev/imgc/internal/testbase"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
)

// received is what the build's received event says: blobs the builder sent
// of the blobs of the image.
func (b *built) received(t *testing.T) (sent, of int) {
	t.Helper()
	for _, ev := range b.events {
		if ev.Kind == "received" {
			if _, err := fmt.Sscanf(ev.Line, "received %d of %d blobs", &sent, &of); err != nil {
				t.Fatalf("reading %q: %v", ev.Line, err)
			}
			return sent, of
		}
	}
	t.Fatal("the build sent no received event")
	return 0, 0
}

// The builder sends only the blobs imgc's store lacks: not the served
// base's layer, nothing on a rebuild, and again what the store pruned.
func TestBuildKitExportSendsOnlyMissingBlobs(t *testing.T) {
	testbase.Require(t)
	addr := buildkittest.Require(t)
	base := testbase.Busybox(t)
	p := compileHCL(t, filepath.Join("..", "examples", "hello"), map[string]string{"base": "oci:" + base + ":latest"})
	ep := epoch
	o := engine.BuildOptions{SourceDateEpoch: &ep}
	s := newStore(t)
	e := buildkit.New(s, buildkit.Options{Addr: addr})
	first := buildWith(t, e, s, p, o)
	sent, of := first.received(t)
	t.Logf("first build: the builder sent %d of %d blobs", sent, of)
	if sent >= of {
		t.Errorf("first build: the builder sent %d of %d blobs, want the base's left out", sent, of)
	}
	warm := buildWith(t, e, s, p, o)
	if sent, of := warm.received(t); sent != 0 {
		t.Errorf("rebuild: the builder sent %d of %d blobs, want 0", sent, of)
	}
	if warm.res.Images[0].Digest != first.res.Images[0].Digest {
		t.Errorf("rebuild made %s, first build %s", warm.res.Images[0].Digest, first.res.Images[0].Digest)
	}
	if _, err := s.Prune(); err != nil {
		t.Fatal(err)
	}
	pruned := buildWith(t, e, s, p, o)
	sent, of = pruned.received(t)
	t.Logf("after a prune: the builder sent %d of %d blobs", sent, of)
	if sent == 0 {
		t.Errorf("after a prune: the builder sent %d of %d blobs, want the pruned ones again", sent, of)
	}
	if pruned.res.Images[0].Digest != first.res.Images[0].Digest {
		t.Errorf("after a prune: made %s, first build %s", pruned.res.Images[0].Digest, first.res.Images[0].Digest)
	}
}

// A registry base the daemon pulls itself reaches imgc's store with the
// first build's export, and not again with a rebuild's.
func TestBuildKitExportSkipsPulledBaseOnRebuild(t *testing.T) {
	testbase.Require(t)
	addr := buildkittest.Require(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ref, err := name.ParseReference(host + "/busybox:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, testbase.BusyboxImage(t)); err != nil {
		t.Fatalf("pushing the base: %v", err)
	}
	p := compileHCL(t, filepath.Join("..", "examples", "hello"), map[string]string{"base": host + "/busybox:1"})
	ep := epoch
	o := engine.BuildOptions{SourceDateEpoch: &ep}
	s := newStore(t)
	e := buildkit.New(s, buildkit.Options{Addr: addr})
	first := buildWith(t, e, s, p, o)
	if sent, of := first.received(t); sent != of {
		t.Errorf("first build: the builder sent %d of %d blobs, want all (imgc had none)", sent, of)
	}
	warm := buildWith(t, e, s, p, o)
	if sent, of := warm.received(t); sent != 0 {
		t.Errorf("rebuild: the builder sent %d of %d blobs, want 0", sent, of)
	}
	if warm.res.Images[0].Digest != first.res.Images[0].Digest {
		t.Errorf("rebuild made %s, first build %s", warm.res.Images[0].Digest, first.res.Images[0].Digest)
	}
}

// The blobs a builder exported into the store for one project are not sent
// again for another: a second project's first build on the same registry
// base, on the same builder, does not receive the base's layers.
func TestBuildKitExportSkipsOtherProjectsBlobs(t *testing.T) {
	testbase.Require(t)
	addr := buildkittest.Require(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ref, err := name.ParseReference(host + "/busybox:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, testbase.BusyboxImage(t)); err != nil {
		t.Fatalf("pushing the base: %v", err)
	}
	vars := map[string]string{"base": host + "/busybox:1"}
	ep := epoch
	o := engine.BuildOptions{SourceDateEpoch: &ep}
	s := newStore(t)
	e := buildkit.New(s, buildkit.Options{Addr: addr})
	first := buildWith(t, e, s, compileHCL(t, filepath.Join("..", "examples", "hello"), vars), o)
	if sent, of := first.received(t); sent != of {
		t.Errorf("first project: the builder sent %d of %d blobs, want all (imgc had none)", sent, of)
	}
	other := writeProject(t, map[string]string{"app.image.hcl": "variable \"base\" {\n  type = string\n}\n\nimage \"other\" {\n  from = var.base\n  run {\n    sh = \"echo other > /other\"\n  }\n}\n"})
	second := buildWith(t, e, s, compileHCL(t, other, vars), o)
	sent, of := second.received(t)
	t.Logf("second project: the builder sent %d of %d blobs", sent, of)
	if sent >= of {
		t.Errorf("second project: the builder sent %d of %d blobs, want the base's layers left out", sent, of)
	}
}

// A build of another target of the project in between does not make the
// next build of the first one receive its blobs again, nor give it another
// digest: what the earlier build recorded stays in the record.
func TestBuildKitRebuildAfterOtherTarget(t *testing.T) {
	testbase.Require(t)
	addr := buildkittest.Require(t)
	nonce := fmt.Sprintf("%d", time.Now().UnixNano())
	dir := writeProject(t, map[string]string{"app.image.hcl": `variable "base" {
  type = string
}

image "a" {
  from = var.base
  run {
    sh = "echo a-` + nonce + ` > /a"
  }
}

image "b" {
  from = var.base
  run {
    sh = "echo b-` + nonce + ` > /b"
  }
}
`})
	cfg, diags := lang.Load(dir, lang.Options{Vars: lang.FlagVars(map[string]string{"base": "oci:" + testbase.Busybox(t) + ":latest"})})
	if diags.HasErrors() {
		t.Fatalf("loading: %s", diags.Error())
	}
	plan := func(target string) *ir.Plan {
		p, diags := compiler.Compile(cfg, compiler.Options{Targets: []string{target}})
		if diags.HasErrors() {
			t.Fatalf("compiling: %s", diags.Error())
		}
		return p
	}
	s := newStore(t)
	e := buildkit.New(s, buildkit.Options{Addr: addr})
	first := buildWith(t, e, s, plan("a"), engine.BuildOptions{})
	buildWith(t, e, s, plan("b"), engine.BuildOptions{})
	again := buildWith(t, e, s, plan("a"), engine.BuildOptions{})
	if sent, of := again.received(t); sent != 0 {
		t.Errorf("a's rebuild after b's: the builder sent %d of %d blobs, want none", sent, of)
	}
	if again.res.Images[0].Digest != first.res.Images[0].Digest {
		t.Errorf("a's rebuild after b's made %s, its first build %s", again.res.Images[0].Digest, first.res.Images[0].Digest)
	}
}
