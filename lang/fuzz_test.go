package lang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgc-dev/imgc/model"
)

// FuzzLoad checks that no input makes Load panic or return a nil Config,
// and that the Config it returns, errors or not, satisfies the model:
// model.Check finds nothing more (the compiler relies on that). The
// fixtures are the seed corpus.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.image.hcl")
	more, _ := filepath.Glob("testdata/*/*/*.image.hcl")
	for _, s := range append(seeds, more...) {
		src, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src, "x=1")
	}
	// Crashers: nesting deeper than the parser's stack, and an empty
	// configuration.
	f.Add([]byte("x = "+strings.Repeat("[", 100000)), "x")
	f.Add([]byte("a = "+strings.Repeat("!", 100000)+"true\n"), strings.Repeat("(", 100000))
	f.Add([]byte("variable \"x\" {}\n"), "1")
	f.Add([]byte("image \"u\" {\n  from = \"scratch\"\n  user = \"1099511627776\"\n}\n"), "1")
	f.Fuzz(func(t *testing.T, src []byte, cliVar string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "f.image.hcl"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		vars := map[string]string{}
		for _, name := range []string{"version", "pkgs", "tools", "fast", "x"} {
			vars[name] = cliVar
		}
		cfg, _ := Load(dir, Options{Vars: VarSources("", []string{"IMGC_VAR_flags=" + cliVar}, FlagVars(vars))})
		if cfg == nil {
			t.Fatal("Load returned a nil Config")
		}
		if diags := model.Check(cfg); len(diags) > 0 {
			t.Fatalf("the Config Load returned breaks the model: %v", diags)
		}
		model.TopoOrder(cfg)
		Format(src)
	})
}

// FuzzReadLock: no lock file makes ReadLock panic, and every pin it
// returns is a sha256 digest.
func FuzzReadLock(f *testing.F) {
	f.Add([]byte("base \"docker.io/library/alpine:3.20\" {\n  digest = \"sha256:" + strings.Repeat("a", 64) + "\"\n}\n"))
	f.Add([]byte("base \"a\" {\n  digest = \"sha256:x\"\n}\nbase \"a\" {\n  digest = 1\n}\n"))
	f.Add([]byte("base {\n}\nother = 1\n"))
	f.Add([]byte(strings.Repeat("base \"x\" {", 300)))
	f.Fuzz(func(t *testing.T, src []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, LockFile), src, 0o644); err != nil {
			t.Fatal(err)
		}
		pins, diags := ReadLock(dir)
		if diags.HasErrors() {
			return
		}
		for ref, d := range pins {
			if !strings.HasPrefix(d, "sha256:") || len(d) != len("sha256:")+64 {
				t.Fatalf("pin %q = %q is not a sha256 digest", ref, d)
			}
		}
	})
}

// FuzzVars: no var file, --var value or IMGC_VAR_ value makes Load panic,
// whatever the variable's type.
func FuzzVars(f *testing.F) {
	f.Add([]byte("s = \"x\"\nn = 3\nl = [\"a\"]\nm = { k = \"v\" }\nb = true\n"), "[\"a\", \"b\"]", "{k = 1}")
	f.Add([]byte("undeclared = 1\ns = var.x\n"), "3", "true")
	f.Add([]byte("n = "+strings.Repeat("[", 1000)), strings.Repeat("[", 100000), "${")
	f.Add([]byte("o = { a = 1, b = [1, 2] }\n"), "{a = 1, b = [1]}", "null")
	f.Fuzz(func(t *testing.T, varFile []byte, cliVar, envVar string) {
		dir := t.TempDir()
		cfg := `variable "s" { default = "" }
variable "n" {
  type    = number
  default = 0
}
variable "l" {
  type    = list(string)
  default = []
}
variable "m" {
  type    = map(string)
  default = {}
}
variable "b" {
  type    = bool
  default = false
}
variable "o" {
  type    = object({ a = number, b = optional(list(number), []) })
  default = { a = 0 }
}
image "x" {
  from = "scratch"
  env  = { S = var.s, N = tostring(var.n), L = join(",", var.l) }
}
`
		if err := os.WriteFile(filepath.Join(dir, "v.image.hcl"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		vf := filepath.Join(dir, "vars.hcl")
		if err := os.WriteFile(vf, varFile, 0o644); err != nil {
			t.Fatal(err)
		}
		vars := map[string]string{}
		for _, name := range []string{"n", "l", "m", "o"} {
			vars[name] = cliVar
		}
		c, _ := Load(dir, Options{Vars: VarSources("", []string{"IMGC_VAR_b=" + envVar, "IMGC_VAR_o=" + envVar}, append([]VarSource{{Kind: VarFile, Path: vf}}, FlagVars(vars)...))})
		if c == nil {
			t.Fatal("Load returned a nil Config")
		}
	})
}
