package examples

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/imgc-dev/imgc/compiler"
	"github.com/imgc-dev/imgc/lang"
)

// TestREADMEExample keeps the README's headline configuration valid: it is
// the first thing a user copies.
func TestREADMEExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```hcl\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no hcl block")
	}
	dir := t.TempDir()
	for name, body := range map[string]string{
		"app.image.hcl":    string(m[1]),
		"requirements.txt": "flask\n",
		"src/main.py":      "print('hi')\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, diags := lang.Load(dir, lang.Options{})
	if diags.HasErrors() {
		t.Fatalf("loading the README's configuration: %s", diags.Error())
	}
	plan, diags := compiler.Compile(cfg, compiler.Options{})
	if diags.HasErrors() {
		t.Fatalf("compiling the README's configuration: %s", diags.Error())
	}
	if n := len(plan.Targets[0].Layers); n != 3 {
		t.Errorf("the README's image has %d layers, want 3 (pip_install's copy and run, then the source)", n)
	}
}
