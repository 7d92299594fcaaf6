package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/imgc-dev/imgc/compiler"
	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/buildkit"
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/internal/buildkittest"
	"github.com/imgc-dev/imgc/internal/testbase"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
)

// helloPlans compiles examples/hello (or the copy at dir) once per
// platform on base.
func helloPlans(t *testing.T, dir, base string, plats ...ir.Platform) []*ir.Plan {
	t.Helper()
	if dir == "" {
		dir = filepath.Join("..", "examples", "hello")
	}
	var plans []*ir.Plan
	for _, pl := range plats {
		cfg, diags := lang.Load(dir, lang.Options{Vars: lang.FlagVars(map[string]string{"base": base}), Platform: pl.String(), BuildPlatform: "linux/amd64"})
		if diags.HasErrors() {
			t.Fatalf("loading: %s", diags.Error())
		}
		p, diags := compiler.Compile(cfg, compiler.Options{Platform: pl})
		if diags.HasErrors() {
			t.Fatalf("compiling for %s: %s", pl, diags.Error())
		}
		plans = append(plans, p)
	}
	return plans
}

// A two-platform build on BuildKit gives the local engine's index, to the
// digest, with SOURCE_DATE_EPOCH; the arm64 run step runs emulated on the
// daemon's runc worker.
func TestBuildKitPlatformsEquivalence(t *testing.T) {
	testbase.RequireArm64(t)
	addr := buildkittest.Require(t)
	plans := helloPlans(t, "", "oci:"+testbase.MultiArch(t)+":latest",
		ir.Platform{OS: "linux", Architecture: "amd64"}, ir.Platform{OS: "linux", Architecture: "arm64"})
	o := engine.BuildOptions{SourceDateEpoch: &epoch}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ls, bs := newStore(t), newStore(t)
	start := time.Now()
	loc, err := local.New(ls).BuildPlatforms(ctx, plans, o)
	if err != nil {
		t.Fatalf("local engine: %v", err)
	}
	t.Logf("local engine, two platforms, cold: %s", time.Since(start))
	start = time.Now()
	bk, err := buildkit.New(bs, buildkit.Options{Addr: addr}).BuildPlatforms(ctx, plans, o)
	if err != nil {
		t.Fatalf("BuildKit engine: %v", err)
	}
	t.Logf("BuildKit engine, two platforms: %s", time.Since(start))
	if len(bk.Images) != 1 || len(bk.Images[0].Platforms) != 2 {
		t.Fatalf("BuildKit built %+v, want one index of two platforms", bk.Images)
	}
	if diff := cmp.Diff(loc.Images, bk.Images); diff != "" {
		t.Errorf("images differ (-local +BuildKit):\n%s", diff)
	}
	if diff := cmp.Diff(loc.Pins, bk.Pins); diff != "" {
		t.Errorf("pins differ (-local +BuildKit):\n%s", diff)
	}
}

const writesHCL = `
variable "base" {
  type = string
}

image "honest" {
  from = var.base
  run {
    sh     = "mkdir -p /out/sub && echo x > /out/sub/x && rm /bin/ls"
    writes = ["/out", "/bin/ls"]
  }
}

image "liar" {
  from = var.base
  run {
    sh     = "mkdir -p /out && echo x > /out/x && echo y > /undeclared"
    writes = ["/out"]
  }
}
`

// BuildKit's layers are checked against the writes their steps declare,
// as the local engine's are: a step that writes outside them fails at its
// line, naming what it wrote, and fails again when the daemon reuses it.
func TestBuildKitWritesAreChecked(t *testing.T) {
	testbase.Require(t)
	addr := buildkittest.Require(t)
	dir := writeProject(t, map[string]string{"app.image.hcl": writesHCL})
	vars := map[string]string{"base": "oci:" + testbase.Busybox(t) + ":latest"}
	cfg, diags := lang.Load(dir, lang.Options{Vars: lang.FlagVars(vars)})
	if diags.HasErrors() {
		t.Fatalf("loading: %s", diags.Error())
	}
	s := newStore(t)
	e := buildkit.New(s, buildkit.Options{Addr: addr})
	for _, name := range []string{"honest", "liar", "liar"} {
		p, diags := compiler.Compile(cfg, compiler.Options{Targets: []string{name}})
		if diags.HasErrors() {
			t.Fatalf("compiling: %s", diags.Error())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		_, err := e.Build(ctx, p, engine.BuildOptions{})
		cancel()
		if name == "honest" {
			if err != nil {
				t.Errorf("a step that writes what it declares: %v", err)
			}
			continue
		}
		var se *engine.StepError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "/undeclared") || strings.Contains(err.Error(), "/out/x") {
			t.Errorf("a step that writes outside its writes: %v, want a StepError naming /undeclared only", err)
		} else if se.Target != "liar" || len(se.Origins) == 0 || se.Origins[0].Line != 16 {
			t.Errorf("the error is at %s %v, want liar's run at app.image.hcl:16", se.Target, se.Origins)
		}
	}
}

// The frontend builds several platforms (`--opt platform=a,b`, buildx's
// --platform): the daemon exports an index whose images have client mode's
// configs, platform by platform.
func TestBuildKitFrontendPlatforms(t *testing.T) {
	testbase.RequireArm64(t)
	addr := buildkittest.Require(t)
	layoutDir := frontendLayout(t)
	multi := testbase.MultiArch(t)
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "examples", "hello"))); err != nil {
		t.Fatal(err)
	}
	plats := []ir.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}
	plans := helloPlans(t, dir, "oci:"+multi+":latest", plats...)
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"--addr", addr, "build", "--frontend", "gateway.v0",
		"--opt", "source=imgc/frontend", "--oci-layout", "frontend=" + layoutDir,
		"--opt", "context:imgc/frontend=oci-layout://frontend@" + layoutDigest(t, layoutDir),
		"--local", "context=" + dir, "--local", "dockerfile=" + dir, "--opt", "filename=hello.image.hcl",
		"--oci-layout", "base=" + multi, "--opt", "build-arg:base=busybase",
		"--opt", "context:busybase=oci-layout://base@" + layoutDigest(t, multi),
		"--opt", "platform=linux/amd64,linux/arm64",
		"--opt", "build-arg:SOURCE_DATE_EPOCH=1700000000",
		"--output", "type=oci,tar=false,dest=" + out + ",rewrite-timestamp=true"}
	if data, err := exec.Command(filepath.Join(buildkittest.BinDir(), "buildctl"), args...).CombinedOutput(); err != nil {
		t.Fatalf("buildctl build --opt platform=linux/amd64,linux/arm64: %v\n%s", err, data)
	}
	idx, err := layout.ImageIndexFromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		t.Fatalf("the layout's index: %v, %d entries", err, len(im.Manifests))
	}
	inner, err := idx.ImageIndex(im.Manifests[0].Digest)
	if err != nil {
		t.Fatalf("the frontend exported no index: %v", err)
	}
	ep := epoch
	bs := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client, err := buildkit.New(bs, buildkit.Options{Addr: addr}).BuildPlatforms(ctx, plans, engine.BuildOptions{SourceDateEpoch: &ep})
	if err != nil {
		t.Fatalf("client mode: %v", err)
	}
	for i, pl := range plats {
		img, err := inner.Image(platformDigest(t, inner, pl))
		if err != nil {
			t.Fatal(err)
		}
		feCfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		h, err := v1.NewHash(client.Images[0].Platforms[i].Digest)
		if err != nil {
			t.Fatal(err)
		}
		cimg, err := bs.Image(h)
		if err != nil {
			t.Fatal(err)
		}
		cCfg, err := cimg.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(cCfg, feCfg); diff != "" {
			t.Errorf("%s: configs differ (-client mode +frontend):\n%s", pl, diff)
		}
	}
}

// platformDigest is the digest of idx's image for pl.
func platformDigest(t *testing.T, idx v1.ImageIndex, pl ir.Platform) v1.Hash {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.OS == pl.OS && d.Platform.Architecture == pl.Architecture {
			return d.Digest
		}
	}
	t.Fatalf("the index has no %s image", pl)
	return v1.Hash{}
}
