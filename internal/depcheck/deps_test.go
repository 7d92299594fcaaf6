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
	{pkgs: "imageref", forbid: []string{""}, except: []string{"imageref"}, why: "the image reference is a leaf every layer may use"},
	{pkgs: "ir", forbid: []string{""}, except: []string{"ir", "imageref"}, why: "the IR imports no other imgc package but the image reference"},
	{pkgs: "model", forbid: []string{""}, except: []string{"model", "imageref"}, why: "the model imports no other imgc package but the image reference"},
	{pkgs: "stdlib", forbid: []string{""}, except: []string{"stdlib", "model", "imageref"}, why: "stdlib is injected into lang by cmd, and its macros emit model steps"},
	{pkgs: "runtime", forbid: []string{"lang", "model", "compiler", "cmd"}, why: "the runtime executes the IR and never sees the language or the model"},
	{pkgs: "lang", forbid: []string{"compiler", "runtime", "ir", "cmd"}, why: "imports flow lang -> model <- compiler -> ir <- runtime"},
	{pkgs: "compiler", forbid: []string{"lang", "runtime", "cmd"}, why: "the compiler lowers the model, whichever front end made it, and never executes anything"},
	{pkgs: "internal", forbid: []string{"lang", "model", "compiler", "runtime", "cmd"}, except: []string{"internal", "runtime/layer"}, why: "internal helpers are leaves"},
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
	ruleFor := func(pkgs string) rule {
		for _, r := range policy {
			if r.pkgs == pkgs {
				return r
			}
		}
		t.Fatalf("no rule for %s", pkgs)
		return rule{}
	}
	cases := []struct {
		dep  string
		rule rule
		want bool
	}{
		{"lang", ruleFor("runtime"), true},
		{"model", ruleFor("runtime"), true},
		{"ir", ruleFor("runtime"), false},
		{"compiler", ruleFor("runtime"), true},
		{"lang", ruleFor("compiler"), true},
		{"model", ruleFor("compiler"), false},
		{"ir", ruleFor("lang"), true},
		{"runtime/layer", ruleFor("lang"), true},
		{"runtime", ruleFor("internal"), true},
		{"runtime/layer", ruleFor("internal"), false},
		{"stdlib", ruleFor("ir"), true},
		{"imageref", ruleFor("ir"), false},
		{"lang", ruleFor("model"), true},
		{"imageref", ruleFor("model"), false},
		{"model", ruleFor("stdlib"), false},
		{"lang", ruleFor("stdlib"), true},
		{"ir", ruleFor("imageref"), true},
	}
	for _, c := range cases {
		if got := violates(c.dep, c.rule); got != c.want {
			t.Errorf("violates(%q, rule for %s) = %v, want %v", c.dep, c.rule.pkgs, got, c.want)
		}
	}
}
