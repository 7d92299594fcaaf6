package depcheck

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/imgc-dev/imgc"

// rule says which imgc packages (by prefix, relative to the module) a set of
// packages may never depend on, directly or not, in their code and in their
// tests.
type rule struct {
	pkgs string // package prefix the rule applies to
	// exact applies the rule to pkgs itself only, not to the packages
	// below it.
	exact  bool
	forbid []string // prefixes they must not depend on
	except []string // prefixes allowed despite forbid
	// tests are prefixes their tests may depend on besides except.
	tests []string
	why   string
}

// The flow: front ends (lang, lang/dockerfile, with stdlib injected; the
// loader lang/loader picks one and gathers variable values for both) ->
// model <- compiler -> ir <- engines (engine/local) and the store and image
// I/O below them; cmd on top wires them. imageref, the parsed image
// reference, is a leaf that the model, the IR and everything below use.
// Leaf helpers in internal/ import at most the IR.
var policy = []rule{
	{pkgs: "imageref", forbid: []string{""}, except: []string{"imageref"}, why: "the image reference is a leaf every layer may use"},
	{pkgs: "ir", forbid: []string{""}, except: []string{"ir", "imageref"}, why: "the IR imports no other imgc package but the image reference"},
	{pkgs: "model", forbid: []string{""}, except: []string{"model", "imageref", "internal/configvalue"}, why: "the model imports no other imgc package but the image reference and the config values Docker checks"},
	{pkgs: "stdlib", forbid: []string{""}, except: []string{"stdlib", "model", "imageref", "internal/configvalue"}, tests: []string{""},
		why: "stdlib is injected into lang by cmd, and its macros emit model steps (its tests build macros end to end)"},
	{pkgs: "lang", forbid: []string{"compiler", "ir", "engine", "store", "imageio", "cmd"}, why: "front ends produce the model; they never compile or build"},
	{pkgs: "compiler", forbid: []string{"lang", "engine", "store", "imageio", "cmd"}, tests: []string{"lang"},
		why: "the compiler turns the model, whichever front end made it, into the IR and never executes anything (its tests load configurations)"},
	{pkgs: "engine", exact: true, forbid: []string{""}, except: []string{"ir", "imageref"},
		why: "the engine boundary knows only the IR: nothing runc-specific, so that another engine can implement it"},
	{pkgs: "engine", forbid: []string{"lang", "model", "compiler", "stdlib", "cmd"}, why: "engines execute the IR and never see the languages or the model"},
	{pkgs: "store", forbid: []string{""}, except: []string{"store", "ir", "imageref", "internal"}, why: "the store keeps content for engines: it imports the IR and leaf helpers only"},
	{pkgs: "imageio", forbid: []string{""}, except: []string{"imageio", "store", "ir", "imageref", "internal"},
		why: "image I/O moves images in and out of the store: it imports the store, the IR and leaf helpers only"},
	{pkgs: "internal", forbid: []string{""}, except: []string{"ir", "imageref", "internal"}, why: "internal helpers are leaves"},
	{pkgs: "", forbid: []string{"cmd"}, except: []string{"cmd"}, why: "nothing imports the CLI"},
}

// forbiddenExternal are packages the main binary must never link.
var forbiddenExternal = []string{
	"github.com/google/go-containerregistry/pkg/v1/daemon",
}

// confined are external packages (by prefix) that only one imgc package
// may bring in: a package may depend on them only if it is that package (or
// below it) or imports it. BuildKit's client (client/llb, the gRPC client,
// the session and its 39 modules) stays in engine/buildkit, which cmd/imgc
// imports to build with --builder; the rest of the house stays light.
var confined = []struct {
	external, via, why string
}{
	{"github.com/moby/buildkit/client", "engine/buildkit", "BuildKit's client is used only through engine/buildkit"},
}

// confinedViolations are the packages (and tests) that bring in a confined
// package without going through its one imgc importer.
func confinedViolations(p pkg, name string, deps map[string][]string) []string {
	var out []string
	check := func(ds []string, what, verb string) {
		for _, c := range confined {
			if under(name, c.via) {
				continue
			}
			through := false
			for _, d := range ds {
				if d == module+"/"+c.via {
					through = true
				}
			}
			if through {
				continue
			}
			for _, d := range ds {
				if under(d, c.external) {
					out = append(out, fmt.Sprintf("%s%s %s %s: %s", what, name, verb, d, c.why))
					break
				}
			}
		}
	}
	check(p.Deps, "", "depends on")
	check(testDeps(p, deps), "the tests of ", "depend on")
	return out
}

type pkg struct {
	ImportPath   string
	Deps         []string
	TestImports  []string
	XTestImports []string
}

func listDeps(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-e", "-json=ImportPath,Deps,TestImports,XTestImports", module+"/...").Output()
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

func (r rule) applies(name string) bool {
	if r.exact {
		return name == r.pkgs
	}
	return under(name, r.pkgs)
}

// testDeps is what p's tests depend on: their imports and everything those
// depend on (deps holds each package's Deps), p's own code excluded.
func testDeps(p pkg, deps map[string][]string) []string {
	seen := map[string]bool{p.ImportPath: true}
	var out []string
	for _, imp := range append(append([]string(nil), p.TestImports...), p.XTestImports...) {
		for _, d := range append([]string{imp}, deps[imp]...) {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	return out
}

// violations checks pkgs against the policy, test dependencies included.
func violations(pkgs []pkg) []string {
	deps := map[string][]string{}
	for _, p := range pkgs {
		deps[p.ImportPath] = p.Deps
	}
	var out []string
	for _, p := range pkgs {
		name, _ := rel(p.ImportPath)
		for _, r := range policy {
			if !r.applies(name) {
				continue
			}
			for _, d := range p.Deps {
				if dep, ok := rel(d); ok && violates(dep, r, false) {
					out = append(out, fmt.Sprintf("%s depends on %s: %s", name, dep, r.why))
				}
			}
			for _, d := range testDeps(p, deps) {
				if dep, ok := rel(d); ok && violates(dep, r, true) {
					out = append(out, fmt.Sprintf("the tests of %s depend on %s: %s", name, dep, r.why))
				}
			}
		}
		out = append(out, confinedViolations(p, name, deps)...)
		if under(name, "cmd/imgc") {
			for _, d := range p.Deps {
				for _, f := range forbiddenExternal {
					if under(d, f) {
						out = append(out, fmt.Sprintf("%s links %s, which the main binary must not", name, d))
					}
				}
			}
		}
	}
	return out
}

func TestImportDirection(t *testing.T) {
	pkgs := listDeps(t)
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages; the policy would check nothing", len(pkgs))
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

func violates(dep string, r rule, test bool) bool {
	allowed := r.except
	if test {
		allowed = append(append([]string(nil), r.except...), r.tests...)
	}
	for _, e := range allowed {
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

func ruleFor(pkgs string, exact bool) rule {
	for _, r := range policy {
		if r.pkgs == pkgs && r.exact == exact {
			return r
		}
	}
	panic("no rule for " + pkgs)
}

// TestPolicyCatchesViolations proves the checker can fail, on single
// dependencies and on whole packages, test imports included.
func TestPolicyCatchesViolations(t *testing.T) {
	cases := []struct {
		dep  string
		rule rule
		test bool
		want bool
	}{
		{"lang", ruleFor("engine", false), false, true},
		{"model", ruleFor("engine", false), false, true},
		{"ir", ruleFor("engine", false), false, false},
		{"compiler", ruleFor("engine", false), false, true},
		{"engine/local/runc", ruleFor("engine", true), false, true},
		{"store", ruleFor("engine", true), false, true},
		{"ir", ruleFor("engine", true), false, false},
		{"imageref", ruleFor("engine", true), false, false},
		{"imageio", ruleFor("store", false), false, true},
		{"engine/local", ruleFor("imageio", false), false, true},
		{"store", ruleFor("imageio", false), false, false},
		{"store/layer", ruleFor("lang", false), false, true},
		{"ir", ruleFor("lang", false), false, true},
		{"lang", ruleFor("compiler", false), false, true},
		{"lang", ruleFor("compiler", false), true, false},
		{"model", ruleFor("compiler", false), false, false},
		{"stdlib", ruleFor("ir", false), false, true},
		{"ir", ruleFor("ir", false), false, false},
		{"imageref", ruleFor("ir", false), false, false},
		{"lang", ruleFor("model", false), false, true},
		{"imageref", ruleFor("model", false), false, false},
		{"ir", ruleFor("imageref", false), false, true},
		{"model", ruleFor("stdlib", false), false, false},
		{"lang", ruleFor("stdlib", false), false, true},
		{"store/layer", ruleFor("internal", false), false, true},
		{"engine/local", ruleFor("store", false), true, true},
		{"compiler", ruleFor("stdlib", false), true, false},
		{"compiler", ruleFor("stdlib", false), false, true},
	}
	for _, c := range cases {
		if got := violates(c.dep, c.rule, c.test); got != c.want {
			t.Errorf("violates(%q, rule for %s, test %v) = %v, want %v", c.dep, c.rule.pkgs, c.test, got, c.want)
		}
	}
	// A test that imports what its package's code may not is caught,
	// through what the imported package depends on too.
	m := func(p string) string { return module + "/" + p }
	pkgs := []pkg{
		{ImportPath: m("store"), Deps: []string{m("ir")}, XTestImports: []string{m("store"), m("engine/local")}},
		{ImportPath: m("engine/local"), Deps: []string{m("store"), m("imageio"), m("ir"), m("lang")}},
		{ImportPath: m("ir")},
	}
	got := violations(pkgs)
	want := []string{
		"engine/local depends on lang: " + ruleFor("engine", false).why,
		"the tests of store depend on engine/local: " + ruleFor("store", false).why,
		"the tests of store depend on imageio: " + ruleFor("store", false).why,
		"the tests of store depend on lang: " + ruleFor("store", false).why,
	}
	// BuildKit's client is allowed in engine/buildkit and what imports it,
	// and nowhere else.
	llb := "github.com/moby/buildkit/client/llb"
	pkgs = []pkg{
		{ImportPath: m("engine/buildkit"), Deps: []string{llb, m("ir")}},
		{ImportPath: m("cmd/imgc"), Deps: []string{m("engine/buildkit"), llb}},
		{ImportPath: m("engine/local"), Deps: []string{llb}},
		{ImportPath: m("store"), XTestImports: []string{m("internal/x")}},
		{ImportPath: m("internal/x"), Deps: []string{"github.com/moby/buildkit/client"}},
	}
	got = append(got, violations(pkgs)...)
	want = append(want,
		"engine/local depends on "+llb+": "+confined[0].why,
		"the tests of store depend on github.com/moby/buildkit/client: "+confined[0].why,
		"internal/x depends on github.com/moby/buildkit/client: "+confined[0].why,
	)
	for _, g := range got {
		if strings.HasPrefix(g, "engine/buildkit ") || strings.HasPrefix(g, "cmd/imgc ") {
			t.Errorf("violation reported for an allowed importer: %q", g)
		}
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("violations do not include %q; got %q", w, got)
		}
	}
}
