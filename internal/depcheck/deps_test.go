package depcheck

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/imgc-dev/imgc"

// rule says which imgc packages (by prefix, relative to the module) a set of
// packages may never depend on, directly or not.
type rule struct {
	pkgs   string   // package prefix the rule applies to
	forbid []string // prefixes they must not depend on
	except []string // prefixes allowed despite forbid
	why    string
}

var policy = []rule{
	{pkgs: "ir", forbid: []string{""}, except: []string{"ir"}, why: "the IR imports no other imgc package"},
	{pkgs: "stdlib", forbid: []string{""}, except: []string{"stdlib"}, why: "stdlib is injected into lang by cmd and imports no imgc package"},
	{pkgs: "runtime", forbid: []string{"lang", "compiler", "cmd"}, except: []string{"ir"}, why: "the runtime executes the IR and never sees the language"},
	{pkgs: "lang", forbid: []string{"compiler", "runtime", "cmd"}, why: "imports flow lang <- compiler <- cmd"},
	{pkgs: "compiler", forbid: []string{"runtime", "cmd"}, why: "the compiler never executes anything"},
	{pkgs: "internal", forbid: []string{"lang", "compiler", "runtime", "cmd"}, except: []string{"ir", "internal", "runtime/layer"}, why: "internal helpers are leaves"},
}

// forbiddenExternal are packages the main binary must never link.
var forbiddenExternal = []string{
	"github.com/moby/buildkit/client/llb",
	"github.com/google/go-containerregistry/pkg/v1/daemon",
}

type pkg struct {
	ImportPath string
	Deps       []string
}

func listDeps(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-e", "-json=ImportPath,Deps", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func rel(path string) (string, bool) {
	if path == module {
		return "", true
	}
	r, ok := strings.CutPrefix(path, module+"/")
	return r, ok
}

func under(path, prefix string) bool {
	return prefix == "" || path == prefix || strings.HasPrefix(path, prefix+"/")
}

func TestImportDirection(t *testing.T) {
	pkgs := listDeps(t)
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages; the policy would check nothing", len(pkgs))
	}
	for _, p := range pkgs {
		name, _ := rel(p.ImportPath)
		for _, r := range policy {
			if !under(name, r.pkgs) {
				continue
			}
			for _, d := range p.Deps {
				dep, ok := rel(d)
				if !ok {
					continue
				}
				if violates(dep, r) {
					t.Errorf("%s depends on %s: %s", name, dep, r.why)
				}
			}
		}
		if under(name, "cmd/imgc") {
			for _, d := range p.Deps {
				for _, f := range forbiddenExternal {
					if under(d, f) {
						t.Errorf("%s links %s, which the main binary must not", name, d)
					}
				}
			}
		}
	}
}

func violates(dep string, r rule) bool {
	for _, e := range r.except {
		if under(dep, e) {
			return false
		}
	}
	for _, f := range r.forbid {
		if under(dep, f) {
			return true
		}
	}
	return false
}

// TestPolicyCatchesViolations proves the checker can fail.
func TestPolicyCatchesViolations(t *testing.T) {
	cases := []struct {
		dep  string
		rule rule
		want bool
	}{
		{"lang", policy[2], true},
		{"ir", policy[2], false},
		{"compiler", policy[2], true},
		{"runtime/layer", policy[3], true},
		{"stdlib", policy[0], true},
		{"ir", policy[0], false},
	}
	for _, c := range cases {
		if got := violates(c.dep, c.rule); got != c.want {
			t.Errorf("violates(%q, rule for %s) = %v, want %v", c.dep, c.rule.pkgs, got, c.want)
		}
	}
}
