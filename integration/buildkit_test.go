package integration

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/internal/fetch"
	"github.com/imgc-dev/imgc/lang/dockerfile"
	"io"
	"os"
	"os/exec"
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
	cfg, diags := lang.Load(path, lang.Options{Vars: lang.FlagVars(vars)})
	if diags.HasErrors() {
		t.Fatalf("loading: %s", diags.Error())
	}
	plan, diags := compiler.Compile(cfg, compiler.Options{})
	if diags.HasErrors() {
		t.Fatalf("compiling: %s", diags.Error())
	}
	return plan
}

// unseenHello is a copy of examples/hello with content of this run only,
// which no daemon has seen.
func unseenHello(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "examples", "hello"))); err != nil {
		t.Fatal(err)
	}
	appendFile(t, filepath.Join(dir, "app", "words.txt"), fmt.Sprintf("# %d\n", time.Now().UnixNano()))
	return dir
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
// `imgc build` does (buildWithImgc and the BuildKit tests build its plan),
// and returns the plan and the context directory.
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
	named := map[string]dockerfile.NamedContext{}
	for k, d := range caseContexts(t, abs) {
		named[k] = dockerfile.NamedContext{Dir: d}
	}
	ctx := context.Background()
	pl := ir.Platform{OS: "linux", Architecture: "amd64"}
	cfg, diags := dockerfile.Import(df, src, dockerfile.Options{BuildArgs: vars, Dir: abs, Platform: platform, Contexts: named,
		BaseOnBuild: func(ref imageref.Ref) ([]string, error) {
			return imageio.BaseOnBuild(ctx, ref, abs, pl, false)
		}})
	if diags.HasErrors() {
		t.Fatalf("importing: %s", diags.Error())
	}
	plan, diags := compiler.Compile(cfg, compiler.Options{
		Context: abs,
		Project: df,
		Resolve: compiler.ResolverFunc(func(ref imageref.Ref, _ ir.Platform) (string, error) {
			return imageio.ResolveBase(ctx, ref, pl)
		}),
		// As imgc build: URLs without a checksum and git refs resolve now.
		Fetch: fetch.Resolver{Ctx: ctx, Downloads: &fetch.Downloader{Dir: t.TempDir(), Temp: os.TempDir()}},
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
			serveRemotes(t, dir, args)
			dir := contextWithModes(t, dir)
			base := base
			triggers := readLines(t, filepath.Join(dir, "base-onbuild"))
			env := readLines(t, filepath.Join(dir, "base-env"))
			wd := readLines(t, filepath.Join(dir, "base-workdir"))
			if len(triggers) > 0 || len(env) > 0 || len(wd) > 0 {
				base = baseWith(t, base, triggers, env, wd)
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
			// And what ggcr's ConfigFile has no field for (a
			// healthcheck's start interval).
			if diff := cmp.Diff(dockerConfig(t, loc.image(t)), dockerConfig(t, bk.image(t))); diff != "" {
				t.Errorf("configs as Docker reads them differ (-local +buildkit):\n%s", diff)
			}
		})
	}
}

// buildKitDiffers are the fidelity cases whose images the two engines
// cannot make the same, with the reason (docs/buildkit.md lists them).
var buildKitDiffers = map[string]string{
	"delete":     "whiteouts: BuildKit writes their mtime as 0 where imgc clamps it to SOURCE_DATE_EPOCH, and a directory removed and made again as one whiteout per file where imgc writes an opaque marker",
	"fs-changes": "a directory replaced in a step: BuildKit writes one whiteout per file it held (mtime 0), imgc an opaque marker",
	"dirs-again": "a directory deleted and made again with the same subdirectories: BuildKit's differ writes only what differs from the lower's, imgc an opaque directory and everything in it",
	"symlinks":   "a hard link made to a file of a lower layer: BuildKit writes the new name as a regular file, imgc the target (copied up) and a link entry",
}

// writeProject writes files (name -> content) into a new directory.
func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A layer block of several steps, the last deleting what the first made,
// and mounts of every kind: both engines make the same one layer.
const groupHCL = `
variable "base" {
  type = string
}

stage "tools" {
  from = var.base
  run {
    sh = "mkdir -p /out && echo tool > /out/tool"
  }
}

image "app" {
  from = var.base
  workdir = "/work"
  env = { STAGE = "one", EXPANDED = "$PATH:/extra" }

  layer "group" {
    copy {
      src  = ["src/"]
      dest = "/work/src/"
    }
    run {
      sh = "cat src/a.txt > made.txt && mkdir -p /scratch && echo x > /scratch/tmp && echo $EXPANDED > path.txt"
    }
    run {
      user = "nobody"
      sh   = "id -u > /tmp/uid.txt"
    }
    run {
      sh = "rm -rf /scratch && cp /tmp/uid.txt /work/uid.txt && rm /tmp/uid.txt"
    }
  }

  run {
    sh = "cat /run/secrets/token | wc -c > /work/token-length; cat /in/tool > /work/tool.txt; echo cached > /cache/c; df -k /tmpfs | tail -1 | wc -l > /work/tmpfs.txt; test -f /ctx/a.txt && echo ok > /work/ctx.txt; echo $${#TOKEN} > /work/token-env-length"
    mount "secret" {
      id     = "token"
      target = "/run/secrets/token"
    }
    mount "secret" {
      id  = "token"
      env = "TOKEN"
    }
    mount "bind" {
      from   = stage.tools
      source = "/out"
      target = "/in"
    }
    mount "cache" {
      id     = "c"
      target = "/cache"
    }
    mount "tmpfs" {
      target = "/tmpfs"
      size   = "8m"
    }
    mount "bind" {
      source = "src"
      target = "/ctx"
    }
  }

  run {
    sh = "true"
  }
}
`

// secretValue must appear in no byte the build exports.
const secretValue = "imgc-secret-7f3a9c1e55d2"

func TestBuildKitGroupsMountsAndSecrets(t *testing.T) {
	testbase.Require(t)
	addr := buildkittest.Require(t)
	base := testbase.Busybox(t)
	dir := writeProject(t, map[string]string{"app.image.hcl": groupHCL, "src/a.txt": "from the context\n", "token": secretValue})
	p := compileHCL(t, dir, map[string]string{"base": "oci:" + base + ":latest"})
	ep := epoch
	out := filepath.Join(t.TempDir(), "out.tar")
	o := engine.BuildOptions{SourceDateEpoch: &ep, Secrets: map[string]string{"token": filepath.Join(dir, "token")},
		Outputs: []engine.Output{{Type: "oci-archive", Dest: out}}}
	loc, bk := both(t, addr, p, o)
	compareLayers(t, loc, bk)
	lc, bc := loc.config(t), bk.config(t)
	if diff := cmp.Diff(lc, bc); diff != "" {
		t.Errorf("configs differ (-local +buildkit):\n%s", diff)
	}
	if loc.res.Images[0].Digest != bk.res.Images[0].Digest {
		t.Errorf("local built %s, buildkit %s", loc.res.Images[0].Digest, bk.res.Images[0].Digest)
	}
	// The group is one layer; the empty run none (an empty history entry).
	app := p.Target("app")
	if n, want := len(bc.RootFS.DiffIDs), 1+len(app.Layers)-1; n != want {
		t.Errorf("buildkit image has %d layers, want %d", n, want)
	}
	if h := bc.History[len(bc.History)-1]; !h.EmptyLayer {
		t.Errorf("the empty run's history entry %+v is not an empty layer", h)
	}
	tree := imageTree(t, bk.image(t))
	for _, name := range []string{"/work/made.txt", "/work/uid.txt", "/work/token-length", "/work/tool.txt", "/work/ctx.txt", "/work/path.txt", "/work/token-env-length"} {
		if _, ok := tree[name]; !ok {
			t.Errorf("%s is missing from the buildkit image", name)
		}
	}
	// Both secret mounts held the secret: its length, 24 and a newline.
	for _, name := range []string{"/work/token-length", "/work/token-env-length"} {
		if e := tree[name]; e.SHA256 != sha256Hex(fmt.Sprintf("%d\n", len(secretValue))) {
			t.Errorf("%s does not hold the secret's length", name)
		}
	}
	for _, name := range []string{"/scratch", "/scratch/tmp", "/tmp/uid.txt", "/cache/c"} {
		if _, ok := tree[name]; ok {
			t.Errorf("%s is in the buildkit image", name)
		}
	}
	// Every blob the BuildKit build stored and the archive it wrote: no
	// secret, compressed or not.
	assertNoSecret(t, bk.s.Dir(), out)
}

// assertNoSecret fails if secretValue is in any file below the paths, or
// in the uncompressed content of any gzip file there.
func assertNoSecret(t *testing.T, paths ...string) {
	t.Helper()
	for _, root := range paths {
		filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err != nil || !fi.Mode().IsRegular() {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			if strings.Contains(string(data), secretValue) {
				t.Errorf("%s holds the secret", p)
			}
			if zr, err := gzip.NewReader(strings.NewReader(string(data))); err == nil {
				plain, _ := io.ReadAll(zr)
				if strings.Contains(string(plain), secretValue) {
					t.Errorf("%s holds the secret, compressed", p)
				}
			}
			return nil
		})
	}
}

// An edit reruns on BuildKit exactly the layers the local engine reruns,
// told by the solve's cached flags.
func TestBuildKitEditRerunsAsLocal(t *testing.T) {
	testbase.Require(t)
	addr := buildkittest.Require(t)
	base := testbase.Busybox(t)
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "examples", "hello"))); err != nil {
		t.Fatal(err)
	}
	// Content of this run only: the shared daemon has not seen it.
	nonce := fmt.Sprintf("# %d\n", time.Now().UnixNano())
	appendFile(t, filepath.Join(dir, "app", "words.txt"), nonce)
	vars := map[string]string{"base": "oci:" + base + ":latest"}
	ls, bs := newStore(t), newStore(t)
	le, be := local.New(ls), buildkit.New(bs, buildkit.Options{Addr: addr})
	p := compileHCL(t, dir, vars)
	lb, bb := buildWith(t, le, ls, p, engine.BuildOptions{}), buildWith(t, be, bs, p, engine.BuildOptions{})
	if diff := cmp.Diff(lb.ran(), bb.ran()); diff != "" {
		t.Errorf("first build ran different layers (-local +buildkit):\n%s", diff)
	}
	appendFile(t, filepath.Join(dir, "app", "hello.sh"), nonce)
	p = compileHCL(t, dir, vars)
	lb, bb = buildWith(t, le, ls, p, engine.BuildOptions{}), buildWith(t, be, bs, p, engine.BuildOptions{})
	want := []string{"copy app/hello.sh", "index"}
	if diff := cmp.Diff(want, lb.ran()); diff != "" {
		t.Errorf("the local engine reran (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(lb.ran(), bb.ran()); diff != "" {
		t.Errorf("after the edit, different layers ran (-local +buildkit):\n%s", diff)
	}
	// plan --builder: the last build on the builder made every layer.
	for k, st := range be.Explain(p) {
		if !st.Hit {
			t.Errorf("Explain after the build: layer %s misses: %s", k, st.Reason)
		}
	}
	appendFile(t, filepath.Join(dir, "app", "hello.sh"), nonce)
	p = compileHCL(t, dir, vars)
	var misses []string
	for _, l := range p.Target("hello").Layers {
		if st := be.Explain(p)[l.Key]; !st.Hit {
			misses = append(misses, l.Name)
		}
	}
	if diff := cmp.Diff(want, misses); diff != "" {
		t.Errorf("Explain after an edit: misses (-want +got):\n%s", diff)
	}
}

func appendFile(t *testing.T, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// A failing step is a StepError at its line, with the exit status and the
// output's tail, as the local engine reports it; a `cache = false` layer
// runs on every build.
func TestBuildKitFailureAndNoCache(t *testing.T) {
	testbase.Require(t)
	addr := buildkittest.Require(t)
	base := testbase.Busybox(t)
	vars := map[string]string{"base": "oci:" + base + ":latest"}
	nonce := fmt.Sprint(time.Now().UnixNano())
	dir := writeProject(t, map[string]string{"app.image.hcl": `
variable "base" {
  type = string
}

image "app" {
  from = var.base
  run {
    sh = "echo ` + nonce + ` > /n"
  }
  run {
    sh    = "date +%N > /always"
    cache = false
  }
}
`})
	p := compileHCL(t, dir, vars)
	s := newStore(t)
	be := buildkit.New(s, buildkit.Options{Addr: addr})
	buildWith(t, be, s, p, engine.BuildOptions{})
	second := buildWith(t, be, s, p, engine.BuildOptions{})
	if diff := cmp.Diff([]string{p.Target("app").Layers[1].Name}, second.ran()); diff != "" {
		t.Errorf("the second build ran (-want +got):\n%s", diff)
	}

	dir = writeProject(t, map[string]string{"app.image.hcl": `
variable "base" {
  type = string
}

image "app" {
  from = var.base
  run {
    sh = "echo first line ` + nonce + `; echo last words; exit 3"
  }
}
`})
	p = compileHCL(t, dir, vars)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := be.Build(ctx, p, engine.BuildOptions{})
	var se *engine.StepError
	if !errors.As(err, &se) {
		t.Fatalf("error %v, want a StepError", err)
	}
	if se.ExitCode != 3 || se.Target != "app" || len(se.Origins) != 1 || se.Origins[0].Line != 8 {
		t.Errorf("StepError %+v: want exit 3 in app at line 8", se)
	}
	if n := len(se.Tail); n == 0 || se.Tail[n-1] != "last words" {
		t.Errorf("tail %q, want it to end with the step's last line", se.Tail)
	}
}

// A step on the host's network needs the daemon's entitlement: a daemon
// that refuses it is a BuilderError saying how to grant it, and one that
// grants it builds the step.
func TestBuildKitHostNetwork(t *testing.T) {
	testbase.Require(t)
	addr := buildkittest.Require(t)
	base := testbase.Busybox(t)
	dir := writeProject(t, map[string]string{"app.image.hcl": `
variable "base" {
  type = string
}

image "app" {
  from = var.base
  run {
    sh      = "echo ` + fmt.Sprint(time.Now().UnixNano()) + ` > /n"
    network = "host"
  }
}
`})
	p := compileHCL(t, dir, map[string]string{"base": "oci:" + base + ":latest"})
	s := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := buildkit.New(s, buildkit.Options{Addr: addr}).Build(ctx, p, engine.BuildOptions{AllowNetworkHost: true})
	var be *buildkit.BuilderError
	if !errors.As(err, &be) || !strings.Contains(be.Summary, "network.host") || !strings.Contains(be.Detail, "--allow-insecure-entitlement network.host") {
		t.Fatalf("error %v, want a BuilderError about network.host", err)
	}
	d, err := buildkittest.Start("--allow-insecure-entitlement", "network.host")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	buildWith(t, buildkit.New(s, buildkit.Options{Addr: d.Addr}), s, p, engine.BuildOptions{AllowNetworkHost: true})
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:16] // as imageTree keeps it
}

// TestBuildKitFrontend builds imgc's frontend image as `make frontend` does
// (the static binary, then imgc on the local engine), drives it through
// gateway.v0 with buildctl, loading it and the base from OCI layouts as
// named contexts, and requires the image client mode makes: the same
// layers, config and history.
func TestBuildKitFrontend(t *testing.T) {
	testbase.Require(t)
	addr := buildkittest.Require(t)
	base := testbase.Busybox(t)
	layoutDir := frontendLayout(t)
	ep := epoch

	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "examples", "hello"))); err != nil {
		t.Fatal(err)
	}
	// A first line `# syntax=` (a comment to HCL) makes BuildKit's
	// Dockerfile frontend, what `docker buildx build` runs, forward to imgc.
	hcl := filepath.Join(dir, "hello.image.hcl")
	src, err := os.ReadFile(hcl)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hcl, append([]byte("# syntax=imgc/frontend\n"), src...), 0o644); err != nil {
		t.Fatal(err)
	}
	p := compileHCL(t, dir, map[string]string{"base": "oci:" + base + ":latest"})
	bs := newStore(t)
	client := buildWith(t, buildkit.New(bs, buildkit.Options{Addr: addr}), bs, p, engine.BuildOptions{SourceDateEpoch: &ep})
	for _, fe := range []string{"gateway.v0", "dockerfile.v0"} {
		feCfg := frontendBuild(t, addr, fe, layoutDir, dir, base)
		if diff := cmp.Diff(client.config(t), feCfg); diff != "" {
			t.Errorf("configs differ (-client mode +frontend through %s):\n%s", fe, diff)
		}
	}
}

// frontendLayout builds imgc's frontend image as `make frontend` does (the
// static binary cross-compiled per platform, then imgc on the local
// engine), an index of linux/amd64 and linux/arm64, into an OCI layout.
func frontendLayout(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	var fps []*ir.Plan
	for _, arch := range []string{"amd64", "arm64"} {
		build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(root, "linux_"+arch, "imgc-frontend"), "../cmd/imgc-frontend")
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building imgc-frontend for %s: %v\n%s", arch, err, out)
		}
		fps = append(fps, compileHCLPlatform(t, filepath.Join("..", "frontend", "frontend.image.hcl"), root, ir.Platform{OS: "linux", Architecture: arch}))
	}
	// The frontend image is an index of both; the daemon runs its own.
	layoutDir := filepath.Join(t.TempDir(), "frontend")
	fs := newStore(t)
	ep := epoch
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fr, err := local.New(fs).BuildPlatforms(ctx, fps, engine.BuildOptions{SourceDateEpoch: &ep, Outputs: []engine.Output{{Type: "oci", Dest: layoutDir}}})
	if err != nil {
		t.Fatalf("building the frontend image: %v", err)
	}
	if n := len(fr.Images[0].Platforms); n != 2 {
		t.Fatalf("the frontend image has %d platforms, want linux/amd64 and linux/arm64", n)
	}
	return layoutDir
}

// frontendBuild builds the hello project in dir with buildctl through the
// frontend fe (gateway.v0 loading imgc's frontend image, or dockerfile.v0
// following the `# syntax=` line), and returns the image's config.
func frontendBuild(t *testing.T, addr, fe, layoutDir, dir, base string) *v1.ConfigFile {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"--addr", addr, "build", "--frontend", fe,
		"--opt", "source=imgc/frontend", "--oci-layout", "frontend=" + layoutDir,
		"--opt", "context:imgc/frontend=oci-layout://frontend@" + layoutDigest(t, layoutDir),
		"--local", "context=" + dir, "--local", "dockerfile=" + dir, "--opt", "filename=hello.image.hcl",
		"--oci-layout", "base=" + base, "--opt", "build-arg:base=busybase",
		"--opt", "context:busybase=oci-layout://base@" + layoutDigest(t, base),
		"--opt", "build-arg:SOURCE_DATE_EPOCH=1700000000",
		"--output", "type=oci,tar=false,dest=" + out + ",rewrite-timestamp=true"}
	cmd := exec.Command(filepath.Join(buildkittest.BinDir(), "buildctl"), args...)
	if data, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("buildctl build --frontend gateway.v0: %v\n%s", err, data)
	}
	cfg, err := testbase.LayoutImage(t, out, "latest").ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// compileHCLPlatform compiles the configuration at path with the build
// context ctxDir for the platform pl.
func compileHCLPlatform(t *testing.T, path, ctxDir string, pl ir.Platform) *ir.Plan {
	t.Helper()
	cfg, diags := lang.Load(path, lang.Options{Platform: pl.String(), BuildPlatform: "linux/amd64"})
	if diags.HasErrors() {
		t.Fatalf("loading: %s", diags.Error())
	}
	plan, diags := compiler.Compile(cfg, compiler.Options{Context: ctxDir, Platform: pl})
	if diags.HasErrors() {
		t.Fatalf("compiling: %s", diags.Error())
	}
	return plan
}

// layoutDigest is the digest of the only manifest of the OCI layout dir.
func layoutDigest(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(data, &idx); err != nil || len(idx.Manifests) != 1 {
		t.Fatalf("index of %s: %v (%d manifests)", dir, err, len(idx.Manifests))
	}
	return idx.Manifests[0].Digest.String()
}

// --cache-to and --cache-from reach BuildKit's cache exporters: a build on
// one daemon exports its cache to a directory, and a fresh daemon with an
// empty store takes the copy layers from it.
func TestBuildKitCacheExportImport(t *testing.T) {
	testbase.Require(t)
	addr := buildkittest.Require(t)
	base := testbase.Busybox(t)
	dir := unseenHello(t)
	p := compileHCL(t, dir, map[string]string{"base": "oci:" + base + ":latest"})
	cacheDir := filepath.Join(t.TempDir(), "cache")
	to, err := engine.ParseCacheExport("type=local,mode=max,dest=" + cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t)
	first := buildWith(t, buildkit.New(s, buildkit.Options{Addr: addr}), s, p, engine.BuildOptions{CacheTo: []engine.CacheExport{to}})
	if len(first.ran()) == 0 {
		t.Fatal("the first build ran no layer: the shared daemon had seen this content")
	}
	if again := buildWith(t, buildkit.New(s, buildkit.Options{Addr: addr}), s, p, engine.BuildOptions{}); len(again.ran()) != 0 {
		t.Errorf("an unchanged rebuild on the same daemon ran %v, want no layer", again.ran())
	}
	if _, err := os.Stat(filepath.Join(cacheDir, "index.json")); err != nil {
		t.Fatalf("the cache export wrote no layout: %v", err)
	}
	fresh, err := buildkittest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Stop()
	from, err := engine.ParseCacheImport("type=local,src=" + cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	s2 := newStore(t)
	second := buildWith(t, buildkit.New(s2, buildkit.Options{Addr: fresh.Addr}), s2, p, engine.BuildOptions{CacheFrom: []engine.CacheImport{from}})
	// Every layer comes from the imported cache: the daemon fetches and
	// unpacks the run step's layer under the step's vertex, which is no run.
	if ran := second.ran(); len(ran) != 0 {
		t.Errorf("a fresh daemon importing the cache ran %v, want no layer", ran)
	}
	if diff := cmp.Diff(first.config(t).RootFS.DiffIDs, second.config(t).RootFS.DiffIDs); diff != "" {
		t.Errorf("layers differ (-first +from the imported cache):\n%s", diff)
	}
}
