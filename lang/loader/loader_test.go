package loader

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/model"
)

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// stepValue is what the first step sees of v: an .image.hcl step has
// the value in its script, a Dockerfile's RUN in its environment.
func stepValue(t *testing.T, cfg *model.Config) string {
	t.Helper()
	if cfg == nil || len(cfg.Stages) == 0 || len(cfg.Stages[0].Steps) == 0 {
		t.Fatalf("no step in %+v", cfg)
	}
	r, ok := cfg.Stages[0].Steps[0].(*model.Run)
	if !ok {
		t.Fatalf("step is %T", cfg.Stages[0].Steps[0])
	}
	for _, e := range r.Env {
		if e.Name == "v" {
			return e.Value
		}
	}
	if sh, ok := r.Command.(*model.Sh); ok {
		return strings.TrimPrefix(sh.Script, "echo ")
	}
	return ""
}

// TestLoadPrecedence: the same sources, in the same order, set an
// .image.hcl variable and a Dockerfile ARG.
func TestLoadPrecedence(t *testing.T) {
	hclDir, dockerDir := t.TempDir(), t.TempDir()
	write(t, hclDir, "app.image.hcl", "variable \"v\" {\n  default = \"default\"\n}\nimage \"app\" {\n  from = \"scratch\"\n  run {\n    sh = \"echo ${var.v}\"\n  }\n}\n")
	write(t, dockerDir, "Dockerfile", "FROM scratch\nARG v=default\nRUN echo $v\n")
	flagFile := filepath.Join(t.TempDir(), "flag.hcl")
	write(t, filepath.Dir(flagFile), "flag.hcl", "v = \"flag-file\"\n")
	for _, dir := range []string{hclDir, dockerDir} {
		write(t, dir, lang.VarFileName, "v = \"vars-file\"\n")
		write(t, dir, "z.auto.vars.hcl", "v = \"auto\"\n")
	}
	for _, tc := range []struct {
		name    string
		cmdline []lang.VarSource
		want    string
	}{
		{"auto file over imgc.vars.hcl and env", nil, "auto"},
		{"var file last", []lang.VarSource{{Kind: lang.VarFlag, Name: "v", Value: "flag"}, {Kind: lang.VarFile, Path: flagFile}}, "flag-file"},
		{"var last", []lang.VarSource{{Kind: lang.VarFile, Path: flagFile}, {Kind: lang.VarFlag, Name: "v", Value: "flag"}}, "flag"},
	} {
		for _, dir := range []string{hclDir, dockerDir} {
			src, diags := Load(Options{Path: dir, Vars: tc.cmdline, Environ: []string{"IMGC_VAR_v=env"}})
			if diags.HasErrors() {
				t.Fatalf("%s: %s", tc.name, diags.Error())
			}
			if got := stepValue(t, src.Config); got != tc.want {
				t.Errorf("%s (Dockerfile %v): v is %q, want %q", tc.name, src.Dockerfile, got, tc.want)
			}
		}
	}
}

// TestLoadDockerfileChoice: a directory without .image.hcl files but with a
// Dockerfile loads the Dockerfile; -f makes PATH the build context.
func TestLoadDockerfileChoice(t *testing.T) {
	dir, ctx := t.TempDir(), t.TempDir()
	write(t, dir, "Dockerfile", "FROM scratch\nRUN true\n")
	src, diags := Load(Options{Path: dir})
	if diags.HasErrors() || !src.Dockerfile || src.Dir != dir {
		t.Fatalf("Load(dir) = %+v, %v", src, diags)
	}
	src, diags = Load(Options{Path: ctx, Dockerfile: filepath.Join(dir, "Dockerfile")})
	if diags.HasErrors() || !src.Dockerfile || src.Dir != ctx {
		t.Fatalf("Load(-f) = %+v, %v", src, diags)
	}
	if _, diags := Load(Options{Path: filepath.Join(dir, "missing")}); len(diags) != 1 || diags[0].Summary != "Configuration not found" {
		t.Fatalf("a missing path: %v", diags)
	}
}
