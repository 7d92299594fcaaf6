package lang

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestVarSourcesOrder: the environment, then imgc.vars.hcl, then the
// *.auto.vars.hcl files by name, then the command line as given.
func TestVarSourcesOrder(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.auto.vars.hcl", "a.auto.vars.hcl", VarFileName, "other.hcl"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("v = 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmdline := []VarSource{{Kind: VarFlag, Name: "v", Value: "2"}, {Kind: VarFile, Path: "x.hcl"}}
	got := VarSources(dir, []string{"IMGC_VAR_z=1", "PATH=/bin", "IMGC_VAR_a=2", "IMGC_VAR_=3"}, cmdline)
	want := []VarSource{
		{Kind: VarEnv, Name: "a", Value: "2"},
		{Kind: VarEnv, Name: "z", Value: "1"},
		{Kind: VarFile, Path: filepath.Join(dir, VarFileName)},
		{Kind: VarFile, Path: filepath.Join(dir, "a.auto.vars.hcl")},
		{Kind: VarFile, Path: filepath.Join(dir, "b.auto.vars.hcl")},
		{Kind: VarFlag, Name: "v", Value: "2"},
		{Kind: VarFile, Path: "x.hcl"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("VarSources (-want +got):\n%s", diff)
	}
}

// TestStringVars: later sources win, and only values that came from the
// environment alone are marked as such.
func TestStringVars(t *testing.T) {
	file := filepath.Join(t.TempDir(), "v.hcl")
	if err := os.WriteFile(file, []byte("a = \"file\"\nn = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vars, fromEnv, diags := StringVars([]VarSource{
		{Kind: VarEnv, Name: "a", Value: "env"},
		{Kind: VarEnv, Name: "e", Value: "env"},
		{Kind: VarFile, Path: file},
		{Kind: VarFlag, Name: "n", Value: "flag"},
	})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if diff := cmp.Diff(map[string]string{"a": "file", "e": "env", "n": "flag"}, vars); diff != "" {
		t.Errorf("vars (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]bool{"e": true}, fromEnv); diff != "" {
		t.Errorf("fromEnv (-want +got):\n%s", diff)
	}
	if _, _, diags := StringVars([]VarSource{{Kind: VarFile, Path: writeTemp(t, "l = [1]\n")}}); len(diags) != 1 || diags[0].Summary != "Invalid ARG value" {
		t.Errorf("a list ARG: diagnostics = %v, want one Invalid ARG value", diags)
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f.hcl")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
