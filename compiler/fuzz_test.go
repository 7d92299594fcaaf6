package compiler

import (
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
