package integration

import (
	"archive/tar"
	"context"
	"fmt"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/lang/dockerfile"
	"os"
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

func (b *built) image(t *testing.T) v1.Image {
	t.Helper()
	h, err := v1.NewHash(b.res.Images[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	img, err := b.s.Image(h)
	if err != nil {
		t.Fatal(err)
	}
	return img
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
	p := compileHCL(t, filepath.Join("..", "examples", "hello"), map[string]string{"base": "oci:" + base + ":latest"})
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

// dockerfilePlan imports and compiles a fidelity case's Dockerfile as
// buildWithImgc does, and returns the plan and the context directory.
func dockerfilePlan(t *testing.T, dir, base string, args map[string]string) (*ir.Plan, string) {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	df := filepath.Join(abs, "Dockerfile")
	src, err := os.ReadFile(df)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"BASE": "oci:" + base + ":latest"}
	for k, v := range args {
		vars[k] = v
	}
	ctx := context.Background()
	pl := ir.Platform{OS: "linux", Architecture: "amd64"}
	cfg, diags := dockerfile.Import(df, src, dockerfile.Options{BuildArgs: vars, Dir: abs, Platform: platform,
		BaseOnBuild: func(ref string) ([]string, error) {
			return imageio.BaseOnBuild(ctx, ref, abs, pl, false)
		}})
	if diags.HasErrors() {
		t.Fatalf("importing: %s", diags.Error())
	}
	plan, diags := compiler.Compile(cfg, compiler.Options{
		Context: abs,
		Project: df,
		Resolve: func(kind ir.BaseKind, ref string) (string, error) {
			return imageio.ResolveBase(ctx, kind, ref, pl)
		},
	})
	if errs := errorsOnly(diags); len(errs) > 0 {
		t.Fatalf("compiling: %s", errs.Error())
	}
	return plan, abs
}

// TestBuildKitFidelityEquivalence builds every Dockerfile fidelity case with
// the local engine and with BuildKit and requires identical layers (diff
// IDs), config and history, and so the same manifest digest, but for the
// differences docs/buildkit.md lists (see buildKitDiffers).
func TestBuildKitFidelityEquivalence(t *testing.T) {
	testbase.Require(t)
	addr := buildkittest.Require(t)
	base := testbase.Busybox(t)
	cases, err := filepath.Glob(filepath.Join("testdata", "fidelity", "*", "Dockerfile"))
	if err != nil || len(cases) == 0 {
		t.Fatalf("no fidelity cases: %v", err)
	}
	for _, df := range cases {
		dir := filepath.Dir(df)
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			args := readArgs(t, filepath.Join(dir, "args"))
			dir := contextWithModes(t, dir)
			base := base
			triggers := readLines(t, filepath.Join(dir, "base-onbuild"))
			env := readLines(t, filepath.Join(dir, "base-env"))
			if len(triggers) > 0 || len(env) > 0 {
				base = baseWith(t, base, triggers, env)
			}
			p, ctxDir := dockerfilePlan(t, dir, base, args)
			ep := epoch
			loc, bk := both(t, addr, p, engine.BuildOptions{SourceDateEpoch: &ep, Context: ctxDir})
			lc, bc := loc.config(t), bk.config(t)
			if buildKitDiffers[name] != "" {
				// The layers are written differently (see buildKitDiffers):
				// the filesystems and the rest of the configs must agree.
				if diff := cmp.Diff(imageTree(t, loc.image(t)), imageTree(t, bk.image(t))); diff != "" {
					t.Errorf("filesystems differ (-local +buildkit):\n%s", diff)
				}
				lc.RootFS, bc.RootFS = v1.RootFS{}, v1.RootFS{}
			} else {
				compareLayers(t, loc, bk)
			}
			if diff := cmp.Diff(lc, bc); diff != "" {
				t.Errorf("configs differ (-local +buildkit):\n%s", diff)
			}
		})
	}
}

// buildKitDiffers are the fidelity cases whose images the two engines
// cannot make the same, with the reason (docs/buildkit.md lists them).
var buildKitDiffers = map[string]string{
	"delete":     "whiteouts: BuildKit writes their mtime as 0 where imgc clamps it to SOURCE_DATE_EPOCH, and a directory removed and made again as one whiteout per file where imgc writes an opaque marker",
	"fs-changes": "a directory replaced in a step: BuildKit writes one whiteout per file it held (mtime 0), imgc an opaque marker",
	"symlinks":   "a hard link made to a file of a lower layer: BuildKit writes the new name as a regular file, imgc the target (copied up) and a link entry",
}
