package lang

import (
	"os"
	"path/filepath"
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
	f.Fuzz(func(t *testing.T, src []byte, cliVar string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "f.image.hcl"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		vars := map[string]string{}
		for _, name := range []string{"version", "pkgs", "tools", "fast", "x"} {
			vars[name] = cliVar
		}
		cfg, _ := Load(dir, Options{Vars: vars, Environ: []string{"IMGC_VAR_flags=" + cliVar}})
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
