package buildkit_test

import (
	"archive/tar"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/compiler"
	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/buildkit"
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/internal/buildkittest"
	"github.com/imgc-dev/imgc/internal/testbase"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/store"
)

func TestMain(m *testing.M) { buildkittest.Main(m) }

var epoch = time.Unix(1700000000, 0).UTC()

// compileHCL compiles the configuration at path with vars.
func compileHCL(t *testing.T, path string, vars map[string]string) *ir.Plan {
	t.Helper()
	cfg, diags := lang.Load(path, lang.Options{Vars: vars})
	if diags.HasErrors() {
		t.Fatalf("loading: %s", diags.Error())
	}
	plan, diags := compiler.Compile(cfg, compiler.Options{})
	if diags.HasErrors() {
		t.Fatalf("compiling: %s", diags.Error())
	}
	return plan
}

// built is one engine's build of a plan.
type built struct {
	s      *store.Store
	res    *engine.Result
	events []engine.Event
}

func (b *built) config(t *testing.T) *v1.ConfigFile {
	t.Helper()
	h, err := v1.NewHash(b.res.Images[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	img, err := b.s.Image(h)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// ran are the layers a build ran (not reused), by name.
func (b *built) ran() []string {
	var out []string
	for _, e := range b.events {
		if e.Kind == "start" {
			out = append(out, e.Layer)
		}
	}
	return out
}

func buildWith(t *testing.T, e engine.Engine, s *store.Store, p *ir.Plan, o engine.BuildOptions) *built {
	t.Helper()
	b := &built{s: s}
	o.Progress = func(ev engine.Event) { b.events = append(b.events, ev) }
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := e.Build(ctx, p, o)
	if err != nil {
		var logs []string
		for _, ev := range b.events {
			if ev.Kind == "log" {
				logs = append(logs, ev.Line)
			}
		}
		t.Fatalf("build: %v\n%s", err, strings.Join(logs, "\n"))
	}
	b.res = res
	return b
}

func newStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// both builds p with the local engine and with BuildKit, each in a store
// of its own.
func both(t *testing.T, addr string, p *ir.Plan, o engine.BuildOptions) (loc, bk *built) {
	t.Helper()
	ls, bs := newStore(t), newStore(t)
	loc = buildWith(t, local.New(ls), ls, p, o)
	bk = buildWith(t, buildkit.New(bs, buildkit.Options{Addr: addr}), bs, p, o)
	return loc, bk
}

func TestHelloEquivalence(t *testing.T) {
	testbase.Require(t)
	addr := buildkittest.Require(t)
	base := testbase.Busybox(t)
	p := compileHCL(t, filepath.Join("..", "..", "examples", "hello"), map[string]string{"base": "oci:" + base + ":latest"})
	ep := epoch
	loc, bk := both(t, addr, p, engine.BuildOptions{SourceDateEpoch: &ep})
	lc, bc := loc.config(t), bk.config(t)
	compareLayers(t, loc, bk)
	if diff := cmp.Diff(lc, bc); diff != "" {
		t.Errorf("configs differ (-local +buildkit):\n%s", diff)
	}
	if loc.res.Images[0].Digest != bk.res.Images[0].Digest {
		t.Errorf("local built %s, buildkit %s", loc.res.Images[0].Digest, bk.res.Images[0].Digest)
	}
}

// layerEntries lists a stored layer's tar headers, for telling where two
// layers differ.
func layerEntries(t *testing.T, s *store.Store, cfg *v1.ConfigFile, i int) []string {
	t.Helper()
	var out []string
	for _, l := range storedLayers(t, s, cfg) {
		if l.DiffID != cfg.RootFS.DiffIDs[i] {
			continue
		}
		rc, err := s.OpenLayer(l)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			out = append(out, fmt.Sprintf("%s %c %o %d:%d size=%d mtime=%d link=%q pax=%v", h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Size, h.ModTime.Unix(), h.Linkname, h.PAXRecords))
		}
	}
	return out
}

func storedLayers(t *testing.T, s *store.Store, cfg *v1.ConfigFile) []store.Layer {
	t.Helper()
	var out []store.Layer
	imgs, err := s.Images()
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range imgs {
		h, err := v1.NewHash(info.Digest)
		if err != nil {
			continue
		}
		img, err := s.Image(h)
		if err != nil {
			continue
		}
		m, err := img.Manifest()
		if err != nil {
			continue
		}
		c, err := img.ConfigFile()
		if err != nil {
			continue
		}
		for j, l := range m.Layers {
			out = append(out, store.Layer{Digest: l.Digest, DiffID: c.RootFS.DiffIDs[j], Size: l.Size, MediaType: l.MediaType})
		}
	}
	return out
}

// compareLayers reports, for each layer whose diff ID differs, how the
// entries differ.
func compareLayers(t *testing.T, loc, bk *built) {
	t.Helper()
	lc, bc := loc.config(t), bk.config(t)
	if len(lc.RootFS.DiffIDs) != len(bc.RootFS.DiffIDs) {
		t.Errorf("local has %d layers, buildkit %d", len(lc.RootFS.DiffIDs), len(bc.RootFS.DiffIDs))
		return
	}
	for i := range lc.RootFS.DiffIDs {
		if lc.RootFS.DiffIDs[i] == bc.RootFS.DiffIDs[i] {
			continue
		}
		if diff := cmp.Diff(layerEntries(t, loc.s, lc, i), layerEntries(t, bk.s, bc, i)); diff != "" {
			t.Errorf("layer %d differs (-local +buildkit):\n%s", i, diff)
		}
	}
}
