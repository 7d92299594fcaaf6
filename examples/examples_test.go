// Package examples holds no code: its test keeps every example directory
// valid and plannable, and builds and runs the examples that need no
// registry.
package examples

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/compiler"
	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/engine/local/runc"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/internal/testbase"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/lang/dockerfile"
	"github.com/imgc-dev/imgc/model"
	"github.com/imgc-dev/imgc/store"
)

// exampleDirs lists every directory here that holds a configuration.
func exampleDirs(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if m, _ := filepath.Glob(filepath.Join(e.Name(), "*"+lang.FileSuffix)); len(m) > 0 {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) < 6 {
		t.Fatalf("found %d example directories (%q); the test would check too little", len(dirs), dirs)
	}
	return dirs
}

func diagText(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		b.WriteString(d.Error())
		b.WriteString("\n")
	}
	return b.String()
}

// compile loads and compiles the configuration in dir with vars, failing
// on any error. resolve may be nil: registry bases stay keyed by tag.
func compile(t *testing.T, dir string, vars map[string]string, resolve func(imageref.Ref, ir.Platform) (string, error)) (*model.Config, *ir.Plan) {
	t.Helper()
	return compileAt(t, dir, vars, resolve, "")
}

// compileAt is compile at an optimizer level ("" is the default).
func compileAt(t *testing.T, dir string, vars map[string]string, resolve func(imageref.Ref, ir.Platform) (string, error), level string) (*model.Config, *ir.Plan) {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg, diags := lang.Load(abs, lang.Options{Vars: lang.FlagVars(vars)})
	if diags.HasErrors() {
		t.Fatalf("loading %s:\n%s", dir, diagText(diags))
	}
	opts := compiler.Options{Optimize: level}
	if resolve != nil {
		opts.Resolve = compiler.ResolverFunc(resolve)
	}
	plan, diags := compiler.Compile(cfg, opts)
	if diags.HasErrors() {
		t.Fatalf("compiling %s:\n%s", dir, diagText(diags))
	}
	return cfg, plan
}

// TestExamplesPlan: every example validates and plans without a registry,
// has a README that builds and runs it (writing any output under out/,
// which git ignores), and its side-by-side Dockerfile imports and plans too.
func TestExamplesPlan(t *testing.T) {
	for _, dir := range exampleDirs(t) {
		t.Run(dir, func(t *testing.T) {
			readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
			if err != nil {
				t.Errorf("example %s has no README.md", dir)
			}
			for _, want := range []string{"bin/imgc build examples/" + dir, "bin/imgc run "} {
				if err == nil && !strings.Contains(string(readme), want) {
					t.Errorf("%s/README.md does not say how to build and run it: no %q", dir, want)
				}
			}
			for _, m := range regexp.MustCompile(`dest=(\S+)`).FindAllStringSubmatch(string(readme), -1) {
				if !strings.HasPrefix(m[1], "out/") {
					t.Errorf("%s/README.md writes %s, outside out/ (which .gitignore keeps out of the repository)", dir, m[1])
				}
			}
			cfg, plan := compile(t, dir, nil, nil)
			if len(plan.Targets) == 0 {
				t.Fatalf("plan of %s has no targets", dir)
			}
			for _, tg := range plan.Targets {
				if tg.Kind == ir.KindImage && len(tg.Layers) == 0 {
					t.Errorf("image %s of %s has no layers", tg.Name, dir)
				}
			}
			// Every stage or image the example declares is used.
			for _, st := range cfg.Stages {
				if plan.Target(st.Name) == nil {
					t.Errorf("%s declares %s %q, which no image needs", dir, st.Kind, st.Name)
				}
			}

			dockerfiles, _ := filepath.Glob(filepath.Join(dir, "Dockerfile*"))
			for _, df := range dockerfiles {
				data, err := os.ReadFile(df)
				if err != nil {
					t.Fatal(err)
				}
				abs, _ := filepath.Abs(dir)
				cfg, diags := dockerfile.Import(df, data, dockerfile.Options{Dir: abs})
				if diags.HasErrors() {
					t.Fatalf("importing %s:\n%s", df, diagText(diags))
				}
				if _, diags := compiler.Compile(cfg, compiler.Options{}); diags.HasErrors() {
					t.Fatalf("compiling %s:\n%s", df, diagText(diags))
				}
			}
		})
	}
}

// TestMacroStepsKeepTheirOrder: at --optimize=all the optimizer moves
// steps on their declared effects; the steps a macro expands to (the
// manifest copy, then the install that reads it) must stay in order.
func TestMacroStepsKeepTheirOrder(t *testing.T) {
	for _, dir := range exampleDirs(t) {
		t.Run(dir, func(t *testing.T) {
			_, written := compileAt(t, dir, nil, nil, "none")
			_, optimized := compileAt(t, dir, nil, nil, compiler.LevelAll)
			for _, tg := range written.Targets {
				opt := optimized.Target(tg.Name)
				if opt == nil {
					t.Fatalf("target %s is missing at --optimize=all", tg.Name)
				}
				want, got := stepsByOrigin(tg), stepsByOrigin(opt)
				for origin, kinds := range want {
					if !slices.Equal(kinds, got[origin]) {
						t.Errorf("%s: the steps of %s ran %q as written, %q at --optimize=all", tg.Name, origin, kinds, got[origin])
					}
				}
			}
		})
	}
}

// stepsByOrigin lists, per source range, the kinds of the target's steps
// in build order.
func stepsByOrigin(tg *ir.Target) map[string][]ir.StepKind {
	out := map[string][]ir.StepKind{}
	for _, l := range tg.Layers {
		for _, st := range l.Steps {
			o := st.Source().String()
			out[o] = append(out[o], st.Kind())
		}
	}
	return out
}

// requireRuntime skips unless real builds can run here.
func requireRuntime(t *testing.T) string {
	t.Helper()
	testbase.Require(t)
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("skipping: needs runc on PATH")
	}
	if data, err := os.ReadFile("/proc/filesystems"); err != nil || !strings.Contains(string(data), "overlay") {
		t.Skip("skipping: needs overlayfs")
	}
	return testbase.Busybox(t)
}

// built is an offline example built for real.
type built struct {
	plan   *ir.Plan
	layout string
}

// buildExample builds dir on the busybox test base into an OCI layout and
// validates every image in it.
func buildExample(t *testing.T, dir string, vars map[string]string) *built {
	t.Helper()
	base := requireRuntime(t)
	if vars == nil {
		vars = map[string]string{}
	}
	vars["base"] = "oci:" + base + ":latest"
	store, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	platform := ir.Platform{OS: "linux", Architecture: goruntime.GOARCH}
	_, plan := compile(t, dir, vars, func(ref imageref.Ref, _ ir.Platform) (string, error) {
		if ref.Kind == imageref.Registry {
			return "", compiler.ErrUnresolved
		}
		return imageio.ResolveBase(ctx, ref, platform)
	})
	out := filepath.Join(t.TempDir(), "layout")
	res, err := local.New(store).Build(ctx, plan, engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}})
	if err != nil {
		var se *engine.StepError
		if errors.As(err, &se) {
			t.Fatalf("building %s: %v\n%s", dir, err, strings.Join(se.Tail, "\n"))
		}
		t.Fatalf("building %s: %v", dir, err)
	}
	if len(res.Images) == 0 {
		t.Fatalf("building %s made no image", dir)
	}
	return &built{plan: plan, layout: out}
}

// image reads the image tagged tag and validates it.
func (b *built) image(t *testing.T, tag string) v1.Image {
	t.Helper()
	img := testbase.LayoutImage(t, b.layout, tag)
	if err := validate.Image(img); err != nil {
		t.Fatalf("image %s is invalid: %v", tag, err)
	}
	return img
}

// runs numbers the containers run started.
var runs int

// run runs args in a container over a fresh copy of img's filesystem with
// its config's env and user, without a network, and returns the output.
func run(t *testing.T, img v1.Image, args ...string) string {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	root := testbase.Rootfs(t, img)
	if len(args) == 0 {
		args = append(slices.Clone(cf.Config.Entrypoint), cf.Config.Cmd...)
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runs++
	id := fmt.Sprintf("imgc-example-%d-%d", os.Getpid(), runs) // unique across concurrent test processes
	spec := runc.Spec{ID: id, Rootfs: root, Args: args, Env: cf.Config.Env,
		Cwd: cf.Config.WorkingDir, User: cf.Config.User, Network: "none"}
	code, err := runc.Run(ctx, t.TempDir(), spec, &out, &out)
	if err != nil {
		t.Fatalf("running %q: %v", args, err)
	}
	if code != 0 {
		t.Fatalf("running %q exited with status %d:\n%s", args, code, out.String())
	}
	return out.String()
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func layerDigests(t *testing.T, img v1.Image) []v1.Hash {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var ds []v1.Hash
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	return ds
}

func TestBuildHello(t *testing.T) {
	b := buildExample(t, "hello", nil)
	img := b.image(t, "localhost/imgc-hello:latest")
	got := run(t, img)
	lines := strings.Count(readFile(t, "hello/app/words.txt"), "\n")
	want := "Hello from imgc, world! (" + strconv.Itoa(lines) + " words)\n"
	if got != want {
		t.Errorf("hello printed %q, want %q", got, want)
	}
}

func TestBuildStaticSite(t *testing.T) {
	b := buildExample(t, "static-site", nil)
	img := b.image(t, "localhost/imgc-static-site:latest")
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "www" || cf.Config.Healthcheck == nil || len(cf.Config.ExposedPorts) != 1 {
		t.Errorf("config = %+v, want user www, a healthcheck and one exposed port", cf.Config)
	}
	root := testbase.Rootfs(t, img)
	for _, page := range []string{"index.html", "about.html", "css/site.css", "site.webmanifest"} {
		if got, want := readFile(t, filepath.Join(root, "srv/www", page)), readFile(t, filepath.Join("static-site/site", page)); got != want {
			t.Errorf("/srv/www/%s differs from the source", page)
		}
	}
	// The user macro made the server's account.
	if passwd := readFile(t, filepath.Join(root, "etc/passwd")); !strings.Contains(passwd, "www:x:10080:10080::/var/www:/bin/false\n") {
		t.Errorf("/etc/passwd lacks the www account:\n%s", passwd)
	}
	if fi, err := os.Stat(filepath.Join(root, "var/www")); err != nil || !fi.IsDir() {
		t.Errorf("the www home directory is missing: %v", err)
	}

	// The server serves the site, as its unprivileged user: start httpd
	// in the background with the image's own arguments and fetch pages.
	args := slices.Clone(cf.Config.Entrypoint)
	if i := slices.Index(args, "-f"); i >= 0 {
		args = slices.Delete(args, i, i+1) // -f keeps httpd in the foreground
	}
	script := strings.Join(args, " ") + ` && for i in 1 2 3 4 5 6 7 8 9 10; do ` +
		`wget -q -O - http://127.0.0.1:8080/index.html && wget -S -q -O /dev/null http://127.0.0.1:8080/site.webmanifest 2>&1 && exit 0; sleep 0.2; done; exit 1`
	got := run(t, img, "/bin/sh", "-c", script)
	if !strings.Contains(got, "<h1>Served by busybox httpd</h1>") {
		t.Errorf("GET /index.html returned:\n%s", got)
	}
	if !strings.Contains(strings.ToLower(got), "content-type: application/manifest+json") {
		t.Errorf("GET /site.webmanifest is not served with the type httpd.conf gives it:\n%s", got)
	}
}

func TestBuildMultiImage(t *testing.T) {
	b := buildExample(t, "multi-image", map[string]string{"release": "2.3.4"})
	api := b.image(t, "localhost/imgc-multi-api:2.3.4")
	worker := b.image(t, "localhost/imgc-multi-worker:2.3.4")

	// The common stage is built once: both images start with its layers,
	// byte for byte the same blobs.
	common := b.plan.Target("common")
	if common == nil {
		t.Fatal("the plan has no common stage")
	}
	n := 1 + len(common.Layers) // the busybox layer, then common's
	a, w := layerDigests(t, api), layerDigests(t, worker)
	if len(a) <= n || len(w) <= n {
		t.Fatalf("api has %d layers and worker %d, want more than the %d shared ones", len(a), len(w), n)
	}
	if !slices.Equal(a[:n], w[:n]) {
		t.Errorf("the images do not share the common stage's layers:\napi    %v\nworker %v", a[:n], w[:n])
	}
	if slices.Equal(a[n:], w[n:]) {
		t.Errorf("api and worker have the same own layers %v", a[n:])
	}

	if got := run(t, api, "/usr/local/bin/api", "--version"); got != "api 2.3.4\n" {
		t.Errorf("api --version printed %q", got)
	}
	got := run(t, worker)
	for _, want := range []string{"[worker] release 2.3.4\n", "[worker] dog: 6 words\n", "[worker] fox: 4 words\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("worker output lacks %q:\n%s", want, got)
		}
	}
	// Both run as the account the common stage's user macro made.
	if got := run(t, worker, "/bin/sh", "-c", "id -u; id -g; echo $HOME"); got != "1000\n1000\n/home/app\n" {
		t.Errorf("the worker runs as %q, want uid and gid 1000 with home /home/app", got)
	}
}

func TestBuildSharedModule(t *testing.T) {
	b := buildExample(t, "shared-module", nil)
	api := b.image(t, "localhost/imgc-shared-api:latest")
	worker := b.image(t, "localhost/imgc-shared-worker:latest")

	// The module's runtime image is built once: both images start with
	// its layers, byte for byte the same blobs.
	runtime := b.plan.Target("module.platform.image.runtime")
	if runtime == nil {
		t.Fatal("the plan has no module.platform.image.runtime stage")
	}
	n := 1 + len(runtime.Layers) // the busybox layer, then the runtime's
	a, w := layerDigests(t, api), layerDigests(t, worker)
	if len(a) <= n || len(w) <= n || !slices.Equal(a[:n], w[:n]) {
		t.Errorf("the images do not share the module runtime's %d layers:\napi    %v\nworker %v", n, a, w)
	}

	// The step definition's copy read the module's directory, its run
	// the arguments of each use.
	if got, want := run(t, api), "[api] port 8080, trusting Example Company Root\napi: ready as app\n"; got != want {
		t.Errorf("api printed %q, want %q", got, want)
	}
	if got, want := run(t, worker), "[worker] port 9090, trusting Example Company Root\nworker: processing jobs as app\n"; got != want {
		t.Errorf("worker printed %q, want %q", got, want)
	}
}
