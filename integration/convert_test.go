package integration

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/compiler"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/lang/dockerfile"
	"github.com/imgc-dev/imgc/model"
)

// platform pins the platform ARGs and the compiler's default platform so
// that both sides agree whatever the host.
const platform = "linux/amd64"

// TestConvertKeepsCacheKeys is the verified conversion: a Dockerfile
// imported directly and its conversion loaded as HCL compile to the same
// layer cache keys, target by target.
func TestConvertKeepsCacheKeys(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join("..", "lang", "dockerfile", "testdata", "*", "Dockerfile"))
	if err != nil || len(cases) == 0 {
		t.Fatalf("no Dockerfile cases: %v", err)
	}
	checked := 0
	for _, df := range cases {
		t.Run(filepath.Base(filepath.Dir(df)), func(t *testing.T) {
			src, err := os.ReadFile(df)
			if err != nil {
				t.Fatal(err)
			}
			if compareKeys(t, df, src, nil) {
				checked++
			}
		})
	}
	if checked == 0 {
		t.Fatal("no case compiled on both sides")
	}
}

// TestConvertKeepsVariables checks that --var reaches the same places in
// the conversion as --build-arg does in the Dockerfile.
func TestConvertKeepsVariables(t *testing.T) {
	df := filepath.Join("..", "lang", "dockerfile", "testdata", "templates", "Dockerfile")
	src, err := os.ReadFile(df)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"REGISTRY": "quay.io/mirror", "DIR": "web", "UID": "42", "PORT": "9090"}
	compareKeys(t, df, src, vars)
	defaults := layerKeysFor(t, df, src, nil)
	changed := layerKeysFor(t, df, src, vars)
	if cmp.Equal(defaults, changed) {
		t.Error("the variables changed no cache key, so the test proves nothing")
	}
}

// TestConvertKeepsNullArgs: an ARG without a default is a variable that
// defaults to null; given a value with --var, it reaches the same steps
// and labels as --build-arg does, and unset it stays out of RUN's env.
func TestConvertKeepsNullArgs(t *testing.T) {
	df := filepath.Join("..", "lang", "dockerfile", "testdata", "nullargs", "Dockerfile")
	src, err := os.ReadFile(df)
	if err != nil {
		t.Fatal(err)
	}
	// Each set takes another branch of ${X:-d} and ${X:+y}.
	for _, set := range []map[string]string{
		{"VERSION": "1.2"},
		{"VERSION": "", "GOPROXY": ""},
		{"COMMIT": "abc", "GOPROXY": "off"},
		{"VERSION": "2", "COMMIT": ""},
	} {
		compareKeys(t, df, src, set)
	}
	vars := map[string]string{"VERSION": "1.2", "COMMIT": ""}
	defaults := layerKeysFor(t, df, src, nil)
	changed := layerKeysFor(t, df, src, vars)
	if cmp.Equal(defaults, changed) {
		t.Error("the variables changed no cache key, so the test proves nothing")
	}
	// Unset and empty differ, as in Docker: COMMIT="" is in RUN's env.
	if cmp.Equal(changed, layerKeysFor(t, df, src, map[string]string{"VERSION": "1.2"})) {
		t.Error("an empty COMMIT gives the keys of an unset one")
	}
}

// layerKeysFor compiles the imported Dockerfile with build arguments.
func layerKeysFor(t *testing.T, filename string, src []byte, vars map[string]string) map[string][]string {
	t.Helper()
	cfg, diags := dockerfile.Import(filename, src, dockerfile.Options{Platform: platform, BuildArgs: vars})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	ctx := t.TempDir()
	makeContext(t, ctx, cfg)
	plan, diags := compiler.Compile(cfg, compiler.Options{Context: ctx, Optimize: compiler.LevelNone, Platform: ir.Platform{OS: "linux", Architecture: "amd64"}, Project: filepath.Join(ctx, "Dockerfile")})
	if errs := errorsOnly(diags); len(errs) > 0 {
		t.Fatal(errs.Error())
	}
	return layerKeys(plan, cfg)
}

// TestConvertKeepsCacheKeysCorpus runs the same check over the real
// Dockerfiles of the shared corpus, with a synthesized build context.
func TestConvertKeepsCacheKeysCorpus(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "corpus", "real")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("corpus not found at %s: %v", dir, err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.Dockerfile"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files: %v", err)
	}
	checked := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Files Import or Convert reject (Windows images, git sources)
		// or that lang.Load rejects (unpinned downloads) are covered by
		// lang/dockerfile's corpus test; here only the keys matter.
		if _, diags := dockerfile.Convert(f, src, dockerfile.ConvertOptions{Platform: platform}); diags.HasErrors() {
			continue
		}
		// FROMs that need a build argument fail on the Dockerfile side;
		// unpinned downloads are a lang.Load error on the HCL side.
		cfg, diags := dockerfile.Import(f, src, dockerfile.Options{Platform: platform})
		if diags.HasErrors() || unpinnedDownload(cfg) {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			if compareKeys(t, f, src, nil) {
				checked++
			}
		})
	}
	t.Logf("%d corpus Dockerfiles compile to the same cache keys as their conversion", checked)
}

// compareKeys imports and converts one Dockerfile, compiles both against
// a context that holds every source it copies (with vars as build
// arguments and as --var), and compares the keys. It reports whether both
// sides compiled.
func compareKeys(t *testing.T, filename string, src []byte, vars map[string]string) bool {
	t.Helper()
	imported, diags := dockerfile.Import(filename, src, dockerfile.Options{Platform: platform, BuildArgs: vars})
	if diags.HasErrors() {
		t.Fatalf("Import: %s", diags.Error())
	}
	hclSrc, diags := dockerfile.Convert(filename, src, dockerfile.ConvertOptions{Platform: platform})
	if diags.HasErrors() {
		t.Fatalf("Convert: %s", diags.Error())
	}
	work := t.TempDir()
	ctx := filepath.Join(work, "context")
	makeContext(t, ctx, imported)
	hclPath := filepath.Join(work, "converted.image.hcl")
	if err := os.WriteFile(hclPath, hclSrc, 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, diags := lang.Load(hclPath, lang.Options{Vars: lang.FlagVars(vars)})
	if diags.HasErrors() {
		t.Fatalf("lang.Load of the conversion: %s\n%s", diags.Error(), hclSrc)
	}

	opts := compiler.Options{Context: ctx, Optimize: compiler.LevelNone, Platform: ir.Platform{OS: "linux", Architecture: "amd64"}}
	opts.Project = filepath.Join(work, "Dockerfile")
	fromDockerfile, diags := compiler.Compile(imported, opts)
	if errs := errorsOnly(diags); len(errs) > 0 {
		t.Fatalf("compiling the Dockerfile: %s", errs.Error())
	}
	opts.Project = hclPath
	fromHCL, diags := compiler.Compile(loaded, opts)
	if errs := errorsOnly(diags); len(errs) > 0 {
		t.Fatalf("compiling the conversion: %s", errs.Error())
	}
	got, want := layerKeys(fromHCL, loaded), layerKeys(fromDockerfile, imported)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("layer keys differ (-dockerfile +converted):\n%s\n%s", diff, hclSrc)
	}
	return true
}

// errorsOnly keeps the errors of diags but "Unsupported platform": a case
// may ask for another architecture than the test's amd64, which imgc
// refuses to build (no emulation) but still plans, so its keys compare.
func errorsOnly(diags hcl.Diagnostics) hcl.Diagnostics {
	var out hcl.Diagnostics
	for _, d := range diags {
		if d.Severity == hcl.DiagError && d.Summary != "Unsupported platform" {
			out = append(out, d)
		}
	}
	return out
}

// layerKeys lists each target's layer keys under the index of its stage
// in the configuration, since conversion may rename stages.
func layerKeys(plan *ir.Plan, cfg *model.Config) map[string][]string {
	index := map[string]int{}
	for i, st := range cfg.Stages {
		index[st.Name] = i
	}
	out := map[string][]string{}
	for _, tg := range plan.Targets {
		var keys []string
		for _, l := range tg.Layers {
			keys = append(keys, l.Key.String())
		}
		out[fmt.Sprintf("stage %d", index[tg.Name])] = keys
	}
	return out
}

func unpinnedDownload(cfg *model.Config) bool {
	found := false
	var steps func([]model.Step)
	steps = func(list []model.Step) {
		for _, step := range list {
			switch s := step.(type) {
			case *model.Add:
				found = found || (s.URL != "" && s.Checksum == "")
			case *model.Layer:
				steps(s.Steps)
			}
		}
	}
	for _, st := range cfg.Stages {
		steps(st.Steps)
	}
	return found
}

// globExample turns a glob into one path it matches.
var globExample = strings.NewReplacer("**", "x", "*", "x", "?", "x", "[", "", "]", "")

// makeContext creates every local source the configuration copies, with
// content derived from its path, so both sides hash the same files.
func makeContext(t *testing.T, dir string, cfg *model.Config) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(p string) {
		p = path.Clean("/" + globExample.Replace(p))
		if p == "/" || strings.Contains(p, "$") {
			return
		}
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(full); err == nil {
			return
		}
		if err := os.WriteFile(full, []byte("content of "+p+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	source := func(src string) {
		if strings.HasSuffix(src, "/") || path.Base(src) == "." {
			write(path.Join(src, "file.txt"))
			return
		}
		write(src)
	}
	var steps func([]model.Step)
	steps = func(list []model.Step) {
		for _, step := range list {
			switch s := step.(type) {
			case *model.Copy:
				if s.From == nil {
					for _, src := range s.Src {
						source(src)
					}
				}
			case *model.Add:
				for _, src := range s.Src {
					source(src)
				}
			case *model.Layer:
				steps(s.Steps)
			}
		}
	}
	for _, st := range cfg.Stages {
		steps(st.Steps)
	}
	write("README.md")
}

// knownValidateFailures are the converted corpus files that do not
// validate alone, and why. None today.
var knownValidateFailures = map[string]string{}

// TestCorpusValidatesWithoutContext checks every converted corpus file as
// imgc validate does: alone, without its build context, its local bases or
// values for its variables (lang ValuesOptional, compiler ConfigOnly).
func TestCorpusValidatesWithoutContext(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "corpus", "real")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("corpus not found at %s: %v", dir, err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.Dockerfile"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no real Dockerfiles: %v", err)
	}
	out := t.TempDir()
	converted, valid := 0, 0
	for _, f := range files {
		name := filepath.Base(f)
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		hclSrc, diags := dockerfile.Convert(f, src, dockerfile.ConvertOptions{Platform: platform})
		if diags.HasErrors() {
			continue
		}
		converted++
		dir := filepath.Join(out, strings.TrimSuffix(name, ".Dockerfile"))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "app.image.hcl")
		if err := os.WriteFile(path, hclSrc, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, diags := lang.Load(path, lang.Options{ValuesOptional: true})
		if !diags.HasErrors() {
			_, cdiags := compiler.Compile(cfg, compiler.Options{ConfigOnly: true, Platform: ir.Platform{OS: "linux", Architecture: "amd64"}})
			diags = append(diags, cdiags...)
		}
		reason := ""
		for _, d := range diags {
			if d.Severity == hcl.DiagError {
				reason = d.Summary
				break
			}
		}
		if reason == "" {
			valid++
		}
		if want := knownValidateFailures[name]; reason != want {
			t.Errorf("%s: validate says %q, known %q", name, reason, want)
		}
	}
	t.Logf("corpus: %d of %d converted files validate without their context", valid, converted)
}

// TestConvertKeepsRedefinedArgs: an ARG declared again from itself (ARG
// X=a then ARG X=${X}b, globally or in a stage) is one variable, and each
// declaration a local reading the one before, so the defaults and a --var
// give the Dockerfile's keys.
func TestConvertKeepsRedefinedArgs(t *testing.T) {
	df := filepath.Join("..", "lang", "dockerfile", "testdata", "argredef", "Dockerfile")
	src, err := os.ReadFile(df)
	if err != nil {
		t.Fatal(err)
	}
	compareKeys(t, df, src, nil)
	for _, vars := range []map[string]string{{"GO_VERSION": "9"}, {"KIND": ""}, {"KIND": "x"}, {"A": "7"}, {"B": "8"}, {"X": "y"}} {
		compareKeys(t, df, src, vars)
		if cmp.Equal(layerKeysFor(t, df, src, nil), layerKeysFor(t, df, src, vars)) {
			t.Errorf("%v changed no cache key, so the test proves nothing", vars)
		}
	}
}

// TestConvertFollowsFromArg: FROM tool-${VARIANT} or FROM $ROOT names a
// stage for one value and an image for another; the conversion chooses
// as BuildKit does for each.
func TestConvertFollowsFromArg(t *testing.T) {
	df := filepath.Join("..", "lang", "dockerfile", "testdata", "fromarg", "Dockerfile")
	src, err := os.ReadFile(df)
	if err != nil {
		t.Fatal(err)
	}
	compareKeys(t, df, src, nil)
	for _, vars := range []map[string]string{{"VARIANT": "slim"}, {"VARIANT": "SLIM"}, {"ROOT": "tool"}, {"ROOT": "scratch"}, {"VARIANT": "docker.io/library/alpine:3.20"}, {"GPU": "nvidia"}, {"GPU": "amd"}} {
		compareKeys(t, df, src, vars)
		if cmp.Equal(layerKeysFor(t, df, src, nil), layerKeysFor(t, df, src, vars)) {
			t.Errorf("%v changed no cache key, so the test proves nothing", vars)
		}
	}
}

// TestConvertKeepsWorkdirOfArgUser: WORKDIR after USER ${U} keeps its
// mkdir step for every U (a name, a bare uid), as the Dockerfile does.
func TestConvertKeepsWorkdirOfArgUser(t *testing.T) {
	df := filepath.Join("..", "lang", "dockerfile", "testdata", "workdiruser", "Dockerfile")
	src, err := os.ReadFile(df)
	if err != nil {
		t.Fatal(err)
	}
	compareKeys(t, df, src, nil)
	compareKeys(t, df, src, map[string]string{"U": "1000"})
	compareKeys(t, df, src, map[string]string{"U": "root"})
}

// TestConvertKeepsSharedArgs: an ARG that stages declare with different
// defaults is one variable, so --var reaches every stage as --build-arg
// does, and each stage keeps its own default without one.
func TestConvertKeepsSharedArgs(t *testing.T) {
	df := filepath.Join("..", "lang", "dockerfile", "testdata", "sharedargs", "Dockerfile")
	src, err := os.ReadFile(df)
	if err != nil {
		t.Fatal(err)
	}
	compareKeys(t, df, src, nil)
	compareKeys(t, df, src, map[string]string{"V": "9"})
	compareKeys(t, df, src, map[string]string{"V": ""})
	if cmp.Equal(layerKeysFor(t, df, src, nil), layerKeysFor(t, df, src, map[string]string{"V": "9"})) {
		t.Error("V changed no cache key, so the test proves nothing")
	}
}

// TestConvertKeepsGitArgs: git sources written with ARGs (the ref, the
// repository, a query's ref= and tag=, --checksum) follow --var in the
// conversion as they follow --build-arg in the Dockerfile.
func TestConvertKeepsGitArgs(t *testing.T) {
	df := filepath.Join("..", "lang", "dockerfile", "testdata", "remote", "Dockerfile")
	src, err := os.ReadFile(df)
	if err != nil {
		t.Fatal(err)
	}
	compareKeys(t, df, src, nil)
	for _, vars := range []map[string]string{{"REF": "v9"}, {"REPO": "https://example.org/other.git"}, {"SUB": "lib"}, {"TOOL_VERSION": "v3"}, {"COMMIT": strings.Repeat("f", 40)}} {
		compareKeys(t, df, src, vars)
		if cmp.Equal(layerKeysFor(t, df, src, nil), layerKeysFor(t, df, src, vars)) {
			t.Errorf("%v changed no cache key, so the test proves nothing", vars)
		}
	}
}
