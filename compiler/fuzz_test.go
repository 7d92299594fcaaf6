package compiler

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgc-dev/imgc/lang"
)

// FuzzCompile takes arbitrary .image.hcl files through Load and Compile,
// offline: neither may panic (a panicking pass is an internal error), and
// a plan compiled without errors passes ir.Check between passes
// (checkPasses is on in tests).
func FuzzCompile(f *testing.F) {
	for _, glob := range []string{"testdata/plan/*/image.hcl", "../lang/testdata/*/*.image.hcl", "../lang/testdata/*/*/*.image.hcl"} {
		seeds, _ := filepath.Glob(glob)
		for _, s := range seeds {
			if src, err := os.ReadFile(s); err == nil {
				f.Add(src)
			}
		}
	}
	f.Add([]byte("image \"a\" {\n  from = \"scratch\"\n  copy {\n    src  = [\"ctx/*\", \"../x\"]\n    dest = \"/\"\n    chown = \"1:2\"\n  }\n}\n"))
	f.Add([]byte(strings.Repeat("image \"i\" {\n  from = image.i\n}\n", 3)))
	f.Fuzz(func(t *testing.T, src []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "f.image.hcl"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(dir, "ctx"), 0o755)
		os.WriteFile(filepath.Join(dir, "ctx", "file"), []byte("x"), 0o644)
		cfg, diags := lang.Load(dir, lang.Options{})
		if cfg == nil {
			t.Fatal("Load returned a nil Config")
		}
		if diags.HasErrors() {
			return
		}
		_, cdiags := Compile(cfg, Options{})
		for _, d := range cdiags {
			if d.Summary == "Internal compiler error" {
				t.Fatalf("%s: %s\n%s", d.Summary, d.Detail, src)
			}
		}
	})
}

// TestStepEnvBound: every run step carries its stage's whole environment,
// so n variables and n steps make n²; past MaxStepEnv that is an error at
// the step, not gigabytes of memory.
func TestStepEnvBound(t *testing.T) {
	var b strings.Builder
	b.WriteString("image \"a\" {\n  from = \"scratch\"\n  env = {\n")
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&b, "    V%d = \"%d\"\n", i, i)
	}
	b.WriteString("  }\n")
	for i := 0; i < MaxStepEnv/2000+10; i++ {
		fmt.Fprintf(&b, "  run { sh = \"echo %d\" }\n", i)
	}
	b.WriteString("}\n")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.image.hcl"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := lang.Load(dir, lang.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	_, diags = Compile(cfg, Options{})
	n := 0
	for _, d := range diags {
		if d.Summary == "Too many environment variables" {
			n++
			if d.Subject == nil || d.Subject.Start.Line < 2000 {
				t.Errorf("diagnostic at %v; want the first step past the bound", d.Subject)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d \"Too many environment variables\" diagnostics in %v; want 1", n, diags)
	}
}
