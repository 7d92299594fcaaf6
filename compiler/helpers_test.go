package compiler

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/model"
)

func init() { checkPasses = true }

// cmpKeys lets go-cmp compare ir.CacheKey values.
var cmpKeys = cmpopts.EquateComparable(ir.CacheKey{})

var amd64 = ir.Platform{OS: "linux", Architecture: "amd64"}

// rng is a source range on a line of a test file.
func rng(line int) hcl.Range {
	return hcl.Range{Filename: "test.image.hcl", Start: hcl.Pos{Line: line, Column: 1}, End: hcl.Pos{Line: line, Column: 10}}
}

// writeTree writes files (path -> content) below a new temporary directory.
func writeTree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustCompile(t testing.TB, cfg *model.Config, opts Options) *ir.Plan {
	t.Helper()
	if opts.Platform.OS == "" {
		opts.Platform = amd64
	}
	p, diags := Compile(cfg, opts)
	if diags.HasErrors() {
		t.Fatalf("Compile: %s", diags.Error())
	}
	return p
}
