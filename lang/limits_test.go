package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/model"
)

// TestNestingLimit: input nested far deeper than the parser's stack allows
// gets a diagnostic at the line where it went too deep, never a crash.
func TestNestingLimit(t *testing.T) {
	const n = 100000
	tests := map[string]string{
		"brackets":                "x = " + strings.Repeat("[", n) + strings.Repeat("]", n) + "\n",
		"parentheses":             "x = " + strings.Repeat("(", n) + "1" + strings.Repeat(")", n) + "\n",
		"objects":                 "x = " + strings.Repeat("{a=", n) + "1" + strings.Repeat("}", n) + "\n",
		"not":                     "x = " + strings.Repeat("!", n) + "true\n",
		"negation":                "x = " + strings.Repeat("-", n) + "1\n",
		"negation in parentheses": "x = (" + strings.Repeat("-\n", n) + "1)\n",
		"conditionals":            "x = " + strings.Repeat("true ? 1 : ", n/2) + "2\n",
		"blocks":                  "\n" + strings.Repeat("a {\n", n) + strings.Repeat("}\n", n),
		"templates":               "x = " + strings.Repeat(`"${`, n) + "1" + strings.Repeat(`}"`, n) + "\n",
		"directives":              `x = "` + strings.Repeat("%{if true}", n/2) + strings.Repeat("%{endif}", n/2) + "\"\n",
	}
	for name, src := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "deep.image.hcl")
			if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, diags := Load(path, Options{})
			if len(diags) != 1 || diags[0].Summary != "Nesting too deep" || diags[0].Subject == nil {
				t.Fatalf("diagnostics = %v; want one \"Nesting too deep\" with a subject", diags)
			}
			if cfg.Files[path] == nil {
				t.Errorf("the refused file is not in Config.Files: its diagnostic has no snippet")
			}
		})
	}
}

// TestNestingWithinLimit: real configurations nest a few levels; the check
// must not refuse deep but reasonable ones, nor count sibling brackets,
// binary minus signs on separate lines or strings.
func TestNestingWithinLimit(t *testing.T) {
	depth := MaxNesting - 10
	src := "locals {\n" +
		"  deep = " + strings.Repeat("[", depth) + strings.Repeat("]", depth) + "\n" +
		"  s = \"!!!---???((([[[{{{\"\n" +
		"  l = [" + strings.Repeat("[1], ", 5000) + "]\n" +
		"  t = \"" + strings.Repeat("%{if true}a%{endif}", 5000) + "\"\n" +
		strings.Repeat("  n = 1 - 2 - 3 - 4 ? -1 : !true\n", 1000) +
		"}\n"
	if diags := CheckSource("ok.image.hcl", []byte(src)); diags.HasErrors() {
		t.Fatalf("CheckSource refused a reasonable file: %v", diags)
	}
}

func TestSourceSizeLimit(t *testing.T) {
	dir := t.TempDir()
	big := []byte("# " + strings.Repeat("x", MaxSourceSize) + "\n")
	if err := os.WriteFile(filepath.Join(dir, "big.image.hcl"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	_, diags := Load(dir, Options{})
	if len(diags) != 1 || diags[0].Summary != "Configuration file too large" {
		t.Fatalf("diagnostics = %v; want one \"Configuration file too large\"", diags)
	}
	if err := os.WriteFile(filepath.Join(dir, LockFile), big, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, diags := ReadLock(dir); len(diags) != 1 || diags[0].Summary != "Lock file too large" {
		t.Fatalf("ReadLock diagnostics = %v; want one \"Lock file too large\"", diags)
	}
	cfgDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(cfgDir, "a.image.hcl"), []byte("image \"a\" {\n  from = \"scratch\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	varFile := filepath.Join(dir, "big.vars")
	if err := os.WriteFile(varFile, big, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, diags := Load(cfgDir, Options{Vars: []VarSource{{Kind: VarFile, Path: varFile}}}); len(diags) != 1 || diags[0].Summary != "Var file too large" {
		t.Fatalf("Load diagnostics = %v; want one \"Var file too large\"", diags)
	}
}

// TestVarValueNesting: a --var value is parsed as HCL for typed variables,
// with the same bound.
func TestVarValueNesting(t *testing.T) {
	dir := t.TempDir()
	src := "variable \"l\" {\n  type = list(any)\n  default = []\n}\nimage \"x\" {\n  from = \"scratch\"\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "v.image.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	_, diags := Load(dir, Options{Vars: FlagVars(map[string]string{"l": deep})})
	if len(diags) != 1 || diags[0].Summary != "Invalid value for variable" {
		t.Fatalf("diagnostics = %v; want one \"Invalid value for variable\"", diags)
	}
}

// TestManyImages: evaluating n image blocks no longer builds an evaluation
// context of all n for each (8,000 blocks took over 20 s): twice the blocks
// allocate about twice the bytes, not four times.
func TestManyImages(t *testing.T) {
	load := func(n int) *model.Config {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "image \"i%d\" {\n  from = \"scratch\"\n  env = { A = \"%d\" }\n  run { sh = \"echo ${local.l%d}\" }\n}\nlocals { l%d = %d }\n", i, i, i, i, i)
		}
		path := filepath.Join(t.TempDir(), "many.image.hcl")
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, diags := Load(path, Options{})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return cfg
	}
	var cfg *model.Config
	half := allocated(func() { load(4000) })
	full := allocated(func() { cfg = load(8000) })
	if len(cfg.Stages) != 8000 {
		t.Fatalf("%d stages; want 8000", len(cfg.Stages))
	}
	checkLinear(t, "image blocks", half, full)
}

// TestManyBadReferences: each evaluation error is checked against the
// references already reported, which took time n² for n bad references
// (25,000 took 11 s).
func TestManyBadReferences(t *testing.T) {
	load := func(n int) hcl.Diagnostics {
		src := "image \"a\" {\n  from = \"scratch\"\n" + strings.Repeat("  run { sh = var.n }\n", n) + "}\n"
		path := filepath.Join(t.TempDir(), "refs.image.hcl")
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, diags := Load(path, Options{})
		return diags
	}
	var diags hcl.Diagnostics
	half := allocated(func() { load(12500) })
	full := allocated(func() { diags = load(25000) })
	if len(diags) != 25000 {
		t.Errorf("%d diagnostics; want one per reference", len(diags))
	}
	for _, d := range diags {
		if d.Summary != "Reference to undeclared variable" {
			t.Fatalf("diagnostic %q; want only the static one (evaluation repeats it)", d.Summary)
		}
	}
	// A scan allocates nothing, so the bytes cannot tell it from the
	// search: the check of a reported range must look at the few ranges
	// near it. Behind the index, plant a range overlapping a query far
	// from where it sits: a search never sees it, a scan of all does.
	l := &loader{}
	for i := 0; i < 1000; i++ {
		l.reported.add(hcl.Range{Filename: "f", Start: hcl.Pos{Byte: 10 * i}, End: hcl.Pos{Byte: 10*i + 5}})
	}
	if !l.alreadyReported(hcl.Range{Filename: "f", Start: hcl.Pos{Byte: 9001}, End: hcl.Pos{Byte: 9002}}) {
		t.Fatal("a range inside a reported one is not reported")
	}
	l.reported.byFile["f"][0] = hcl.Range{Filename: "f", Start: hcl.Pos{Byte: 5006}, End: hcl.Pos{Byte: 5009}}
	if l.alreadyReported(hcl.Range{Filename: "f", Start: hcl.Pos{Byte: 5006}, End: hcl.Pos{Byte: 5008}}) {
		t.Error("checking a range against the reported ones looked at all of them: n bad references take time n²")
	}
	checkLinear(t, "bad references", half, full)
}

// allocated is the bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// checkLinear fails unless full, the bytes allocated for twice the input
// that allocated half, is about twice half: quadratic work is four times.
func checkLinear(t *testing.T, what string, half, full uint64) {
	t.Helper()
	t.Logf("allocated %d bytes for half the %s, %d for all", half, what, full)
	if ratio := float64(full) / float64(half); ratio > 3 {
		t.Errorf("twice the %s allocated %.1f times the bytes (%d, %d); want about twice: the work is not linear", what, ratio, half, full)
	}
}
