package compiler

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/model"
)

const keysBase = `
variable "version" {
  type    = string
  default = "1.0"
}

stage "deps" {
  from    = "docker.io/library/python:3.12-slim"
  workdir = "/app"
  copy {
    src  = "app/requirements.txt"
    dest = "./"
  }
  run {
    sh = "pip install -r requirements.txt"
  }
}

image "app" {
  from = stage.deps
  tags = ["example.com/app:${var.version}"]
  copy {
    src  = "app/"
    dest = "/app/"
  }
  run {
    sh = "python -m compileall /app && echo ${var.version} > /app/VERSION"
  }
  run {
    sh = "echo done"
  }
  config {
    cmd    = ["python", "/app/main.py"]
    labels = { version = var.version }
  }
}
`

// keysOf loads src as a configuration in a new copy of files and returns
// every layer key by "target/layer index" (and "target/base").
func keysOf(t *testing.T, src string, files map[string]string, vars map[string]string) map[string]string {
	t.Helper()
	all := map[string]string{"main.image.hcl": src}
	for k, v := range files {
		all[k] = v
	}
	dir := writeTree(t, all)
	cfg, diags := lang.Load(filepath.Join(dir, "main.image.hcl"), lang.Options{Vars: lang.FlagVars(vars)})
	if diags.HasErrors() {
		t.Fatalf("loading: %s", diags.Error())
	}
	p := mustCompile(t, cfg, Options{})
	return planKeys(p)
}

func planKeys(p *ir.Plan) map[string]string {
	out := map[string]string{}
	for _, tg := range p.Targets {
		out[tg.Name+"/base"] = tg.Base.Key.String()
		for i, l := range tg.Layers {
			out[tg.Name+"/"+string(rune('1'+i))] = l.Key.String()
		}
	}
	return out
}

var appFiles = map[string]string{
	"app/requirements.txt": "flask==3.0\n",
	"app/main.py":          "print('hi')\n",
	"app/util.py":          "X = 1\n",
}

func TestKeysIgnoreWhatCannotChangeTheResult(t *testing.T) {
	want := keysOf(t, keysBase, appFiles, nil)
	edits := map[string]string{
		"comments and formatting": "# a comment\n\n" + strings.ReplaceAll(strings.ReplaceAll(keysBase, "  sh = ", "  # explained\n  sh     =   "), "\n}\n", "\n}\n\n\n"),
		"config labels":           strings.Replace(keysBase, "labels = { version = var.version }", `labels = { version = var.version, team = "web" }`, 1),
		"config cmd":              strings.Replace(keysBase, `cmd    = ["python", "/app/main.py"]`, `cmd    = ["python"]`, 1),
		"tags":                    strings.Replace(keysBase, `tags = ["example.com/app:${var.version}"]`, `tags = ["example.com/other:latest"]`, 1),
		"an unrelated stage first": `
stage "lint" {
  from = "docker.io/library/alpine:3.20"
  run {
    sh = "true"
  }
}
` + keysBase,
		"stages in another order": keysBase[strings.Index(keysBase, `image "app"`):] + keysBase[:strings.Index(keysBase, `image "app"`)],
	}
	for name, src := range edits {
		t.Run(name, func(t *testing.T) {
			got := keysOf(t, src, appFiles, nil)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("keys changed (-before +after):\n%s", diff)
			}
		})
	}
}

func TestKeysRenamedStageKeepsKeys(t *testing.T) {
	want := keysOf(t, keysBase, appFiles, nil)
	got := keysOf(t, strings.ReplaceAll(keysBase, "deps", "dependencies"), appFiles, nil)
	for k, v := range want {
		k = strings.Replace(k, "deps/", "dependencies/", 1)
		if got[k] != v {
			t.Errorf("%s: key %s, before the rename %s", k, got[k], v)
		}
	}
}

func TestKeysEditedFileInvalidatesFromItsLayerOn(t *testing.T) {
	before := keysOf(t, keysBase, appFiles, nil)
	edited := map[string]string{}
	for k, v := range appFiles {
		edited[k] = v
	}
	edited["app/util.py"] = "X = 2\n"
	after := keysOf(t, keysBase, edited, nil)
	// app/util.py is copied by app's layer 1 only.
	for _, k := range []string{"deps/base", "deps/1", "deps/2", "app/base"} {
		if before[k] != after[k] {
			t.Errorf("%s changed, but it comes before the copy of the edited file", k)
		}
	}
	for _, k := range []string{"app/1", "app/2", "app/3"} {
		if before[k] == after[k] {
			t.Errorf("%s did not change, but it is or follows the copy of the edited file", k)
		}
	}

	// requirements.txt is copied by deps; everything from there changes.
	edited["app/requirements.txt"] = "flask==3.1\n"
	after = keysOf(t, keysBase, edited, nil)
	for _, k := range []string{"deps/1", "deps/2", "app/base", "app/1", "app/2", "app/3"} {
		if before[k] == after[k] {
			t.Errorf("%s did not change after editing requirements.txt", k)
		}
	}
	if before["deps/base"] != after["deps/base"] {
		t.Errorf("the base key changed after editing a copied file")
	}
}

func TestKeysChangedVariable(t *testing.T) {
	before := keysOf(t, keysBase, appFiles, nil)
	after := keysOf(t, keysBase, appFiles, map[string]string{"version": "2.0"})
	for _, k := range []string{"deps/1", "deps/2", "app/1"} {
		if before[k] != after[k] {
			t.Errorf("%s changed, but it does not use var.version", k)
		}
	}
	for _, k := range []string{"app/2", "app/3"} {
		if before[k] == after[k] {
			t.Errorf("%s did not change, but it uses (or follows a use of) var.version", k)
		}
	}
}

func TestKeysSeeEverySetting(t *testing.T) {
	base := &model.Run{Command: &model.Sh{Script: "make"}, Range: rng(3)}
	variants := map[string]*model.Run{
		"command":     {Command: &model.Sh{Script: "make all"}},
		"exec form":   {Command: &model.Exec{Argv: []string{"make"}}},
		"env":         {Command: &model.Sh{Script: "make"}, Env: []model.EnvVar{{Name: "CC", Value: "clang"}}},
		"workdir":     {Command: &model.Sh{Script: "make"}, Workdir: "/src"},
		"user":        {Command: &model.Sh{Script: "make"}, User: "builder"},
		"shell":       {Command: &model.Sh{Script: "make"}, Shell: []string{"/bin/bash", "-c"}},
		"network":     {Command: &model.Sh{Script: "make"}, Network: "none"},
		"cache_key":   {Command: &model.Sh{Script: "make"}, CacheKey: "v2"},
		"mount":       {Command: &model.Sh{Script: "make"}, Mounts: []model.Mount{{Type: "cache", Target: "/root/.cache"}}},
		"secret id":   {Command: &model.Sh{Script: "make"}, Mounts: []model.Mount{{Type: "secret", ID: "npmrc", Target: "/root/.npmrc"}}},
		"script":      {Command: &model.Script{Name: "EOF", Text: "#!/bin/sh\nmake\n"}},
		"security":    {Command: &model.Sh{Script: "make"}, Security: "insecure"},
		"device":      {Command: &model.Sh{Script: "make"}, Devices: []model.Device{{Name: "vendor.com/gpu=0"}}},
		"required":    {Command: &model.Sh{Script: "make"}, Devices: []model.Device{{Name: "vendor.com/gpu=0", Required: true}}},
		"script name": {Command: &model.Script{Name: "PY", Text: "#!/bin/sh\nmake\n"}},
		"script text": {Command: &model.Script{Name: "EOF", Text: "#!/bin/sh\nmake all\n"}},
	}
	compileRun := func(r *model.Run) ir.CacheKey {
		cfg := &model.Config{Dir: t.TempDir(), Stages: []*model.Stage{{Kind: model.KindImage, Name: "x", From: model.From{Base: &model.Scratch{}}, Steps: []model.Step{r}}}}
		return mustCompile(t, cfg, Options{}).Targets[0].Key()
	}
	want := compileRun(base)
	seen := map[ir.CacheKey]string{want: "base"}
	for name, r := range variants {
		k := compileRun(r)
		if other, dup := seen[k]; dup {
			t.Errorf("%s: same key as %s", name, other)
		}
		seen[k] = name
	}
	if moved := compileRun(&model.Run{Command: &model.Sh{Script: "make"}, Range: rng(40)}); moved != want {
		t.Errorf("moving a step to another line changed its key")
	}
	if nc := compileRun(&model.Run{Command: &model.Sh{Script: "make"}, NoCache: true}); nc != want {
		t.Errorf("cache = false changed the key; it should only set NoCache")
	}
}

func TestKeysCopyFileMode(t *testing.T) {
	dir := writeTree(t, map[string]string{"run.sh": "echo\n"})
	cfg := func() *model.Config {
		return &model.Config{Dir: dir, Stages: []*model.Stage{{Kind: model.KindImage, Name: "x", From: model.From{Base: &model.Scratch{}},
			Steps: []model.Step{&model.Copy{FileSpec: model.FileSpec{Src: []string{"run.sh"}, Dest: "/bin/"}}}}}}
	}
	before := mustCompile(t, cfg(), Options{}).Targets[0].Key()
	if err := os.Chmod(filepath.Join(dir, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if after := mustCompile(t, cfg(), Options{}).Targets[0].Key(); after == before {
		t.Errorf("making a copied file executable did not change the key")
	}
}

func TestBaseKeys(t *testing.T) {
	const digest = "sha256:2424c1850714a4d94666ec928e24d86de958646737b1d113f5b2207be44d37d8"
	cfg := func(ref string) *model.Config {
		return &model.Config{Dir: t.TempDir(), Stages: []*model.Stage{{Kind: model.KindImage, Name: "x", From: model.From{Base: &model.Image{Ref: imageref.MustParse(ref)}}}}}
	}
	tagged := mustCompile(t, cfg("debian:bookworm"), Options{}).Targets[0].Base
	if tagged.Ref.String() != "docker.io/library/debian:bookworm" || tagged.Key != ir.TagBaseKey("docker.io/library/debian:bookworm", amd64) {
		t.Errorf("tagged base = %+v", tagged)
	}
	pinned := mustCompile(t, cfg("debian:bookworm"), Options{Pins: map[string]string{"docker.io/library/debian:bookworm": digest}}).Targets[0].Base
	if pinned.Digest != digest || pinned.Key != ir.DigestBaseKey(digest, amd64) {
		t.Errorf("pinned base = %+v", pinned)
	}
	inRef := mustCompile(t, cfg("debian:bookworm@"+digest), Options{}).Targets[0].Base
	if inRef.Key != pinned.Key {
		t.Errorf("a digest in the reference keys %s, the same digest pinned %s", inRef.Key, pinned.Key)
	}
	var asked []string
	resolved := mustCompile(t, cfg("oci:layout:v1"), Options{Resolve: ResolverFunc(func(ref imageref.Ref, _ ir.Platform) (string, error) {
		asked = append(asked, string(ref.Kind)+" "+ref.String())
		return digest, nil
	})}).Targets[0].Base
	if resolved.Kind != ir.BaseOCILayout || !filepath.IsAbs(resolved.Ref.Path) || !strings.HasSuffix(resolved.Ref.String(), "/layout:v1") || resolved.Key != pinned.Key {
		t.Errorf("resolved oci base = %+v", resolved)
	}
	if len(asked) != 1 || !strings.HasPrefix(asked[0], "oci /") {
		t.Errorf("Resolve calls = %q", asked)
	}
	other := mustCompile(t, cfg("debian:bookworm"), Options{Platform: ir.Platform{OS: "linux", Architecture: "arm64"}}).Targets[0].Base
	if other.Key == tagged.Key {
		t.Errorf("the platform does not enter the base key")
	}
}

// TestInheritedConfigIsKeyed: a run step built on a stage sees the env and
// user of that stage's config, so they key its layers; labels do not.
func TestInheritedConfigIsKeyed(t *testing.T) {
	keyOf := func(cfg *model.ImageConfig) ir.CacheKey {
		c := &model.Config{Dir: t.TempDir(), Stages: []*model.Stage{
			{Kind: model.KindStage, Name: "base", From: model.From{Base: &model.Image{Ref: imageref.MustParse("alpine")}}, Steps: []model.Step{&model.Run{Command: &model.Sh{Script: "true"}}}, Config: cfg},
			{Kind: model.KindImage, Name: "app", From: model.From{Base: &model.Target{Name: "base"}}, Steps: []model.Step{&model.Run{Command: &model.Sh{Script: "echo $MODE > /mode"}}}},
		}}
		return mustCompile(t, c, Options{}).Target("app").Key()
	}
	plain := keyOf(nil)
	if keyOf(&model.ImageConfig{Labels: map[string]string{"v": "1"}}) != plain {
		t.Errorf("a label of the base stage changed the key of a step built on it")
	}
	dev, prod := keyOf(&model.ImageConfig{Env: []model.EnvVar{{Name: "MODE", Value: "dev"}}}), keyOf(&model.ImageConfig{Env: []model.EnvVar{{Name: "MODE", Value: "prod"}}})
	if dev == prod || dev == plain {
		t.Errorf("the env the base stage's config passes on does not key the steps built on it")
	}
	if keyOf(&model.ImageConfig{User: "nobody"}) == plain {
		t.Errorf("the user the base stage's config passes on does not key the steps built on it")
	}
}

// TestKeysSourceDateEpoch: SOURCE_DATE_EPOCH changes every layer's file
// times, so it changes every key; unset, no key carries it.
func TestKeysSourceDateEpoch(t *testing.T) {
	all := map[string]string{"main.image.hcl": keysBase}
	for k, v := range appFiles {
		all[k] = v
	}
	dir := writeTree(t, all)
	cfg, diags := lang.Load(filepath.Join(dir, "main.image.hcl"), lang.Options{})
	if diags.HasErrors() {
		t.Fatalf("loading: %s", diags.Error())
	}
	plain := planKeys(mustCompile(t, cfg, Options{}))
	one := planKeys(mustCompile(t, cfg, Options{SourceDateEpoch: "1000000000"}))
	two := planKeys(mustCompile(t, cfg, Options{SourceDateEpoch: "2000000000"}))
	for k := range plain {
		if strings.HasSuffix(k, "/base") {
			continue // the base image's own key: no layer of ours
		}
		if plain[k] == one[k] || one[k] == two[k] {
			t.Errorf("%s: key unchanged by SOURCE_DATE_EPOCH (unset %s, 1e9 %s, 2e9 %s)", k, plain[k], one[k], two[k])
		}
	}
}

func TestKeysMkdir(t *testing.T) {
	compile := func(st *model.Stage, steps ...model.Step) *ir.Plan {
		st.Kind, st.Name, st.From = model.KindImage, "x", model.From{Base: &model.Scratch{}}
		st.Steps = steps
		return mustCompile(t, &model.Config{Dir: t.TempDir(), Stages: []*model.Stage{st}}, Options{})
	}
	base := compile(&model.Stage{}, &model.Mkdir{Path: "/app"})
	seen := map[ir.CacheKey]string{base.Targets[0].Key(): "base"}
	for name, p := range map[string]*ir.Plan{
		"path":         compile(&model.Stage{}, &model.Mkdir{Path: "/srv"}),
		"user":         compile(&model.Stage{}, &model.Mkdir{Path: "/app", User: "1000"}),
		"relative dir": compile(&model.Stage{Workdir: "/opt"}, &model.Mkdir{Path: "app"}),
	} {
		k := p.Targets[0].Key()
		if other, dup := seen[k]; dup {
			t.Errorf("%s: same key as %s", name, other)
		}
		seen[k] = name
	}
	// A relative path resolves against the working directory; without a
	// user the step is made as the base image's user, not the stage's.
	p := compile(&model.Stage{Workdir: "/opt", User: "app"}, &model.Mkdir{Path: "data"})
	got := p.Targets[0].Layers[0]
	want := &ir.Mkdir{Path: "/opt/data"}
	if diff := cmp.Diff(want, got.Steps[0], cmpopts.IgnoreFields(ir.Mkdir{}, "Origin")); diff != "" {
		t.Errorf("mkdir step (-want +got):\n%s", diff)
	}
	if got.CreatedBy != "WORKDIR /opt/data" {
		t.Errorf("history = %q, want WORKDIR /opt/data", got.CreatedBy)
	}
}

func TestOctal4(t *testing.T) {
	for _, v := range []uint32{0, 7, 0o644, 0o755, 0o4755, 0o7777, uint32(fs.ModeSetuid) | 0o755} {
		if got, want := octal4(v), fmt.Sprintf("%04o", v); got != want {
			t.Errorf("octal4(%o) = %q, want %q", v, got, want)
		}
	}
}
