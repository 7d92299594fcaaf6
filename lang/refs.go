package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/imgc-dev/imgc/model"
)

// traversalsIn returns every variable reference in a native-syntax body,
// nested blocks included, in source order.
func traversalsIn(body *hclsyntax.Body) []hcl.Traversal {
	var out []hcl.Traversal
	var walk func(b *hclsyntax.Body)
	walk = func(b *hclsyntax.Body) {
		for _, attr := range b.Attributes {
			out = append(out, attr.Expr.Variables()...)
		}
		for _, blk := range b.Blocks {
			walk(blk.Body)
		}
	}
	walk(body)
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].SourceRange().Start.Byte < out[j].SourceRange().Start.Byte
	})
	return out
}

// reference is a var, local, stage or image reference read from a
// traversal.
type reference struct {
	root string // var, local, stage, image, module
	name string
	rng  hcl.Range
	tr   hcl.Traversal
}

func referenceOf(tr hcl.Traversal) (reference, bool) {
	root := tr.RootName()
	switch root {
	case "var", "local", "stage", "image", "module":
	default:
		return reference{}, false
	}
	if len(tr) < 2 {
		return reference{}, false
	}
	attr, ok := tr[1].(hcl.TraverseAttr)
	if !ok {
		return reference{}, false
	}
	r := reference{root: root, name: attr.Name, rng: hcl.RangeBetween(tr[0].SourceRange(), tr[1].SourceRange()), tr: tr}
	if root == "module" {
		r.rng = tr.SourceRange()
	}
	return r, true
}

func referencesIn(trs []hcl.Traversal) []reference {
	var refs []reference
	for _, tr := range trs {
		if r, ok := referenceOf(tr); ok {
			refs = append(refs, r)
		}
	}
	return refs
}

// checkReferences reports references to undeclared names and cycles
// between locals, and records what the later phases need: the variables
// behind each local and each stage's defaults. (Cycles between stages are
// model.Check's, on the evaluated bases, copies and mounts.)
func (l *loader) checkReferences(mod *module) {
	for _, v := range mod.variables {
		for _, rule := range v.Validations {
			// Other roots are reported by decodeVariableBlock.
			for _, r := range referencesIn(append(rule.Condition.Variables(), rule.ErrorMessage.Variables()...)) {
				if r.root == "var" {
					l.checkDeclared(mod, []reference{r})
				}
			}
		}
	}
	localRefs := map[string][]reference{}
	for _, loc := range mod.locals {
		refs := referencesIn(loc.Expr.Variables())
		l.checkDeclared(mod, refs)
		localRefs[loc.Name] = refs
	}

	// Locals: cycles, then the variables and stages behind each local.
	var localNames []string
	localEdges := map[string][]edge{}
	for _, loc := range mod.locals {
		localNames = append(localNames, loc.Name)
		for _, r := range localRefs[loc.Name] {
			if r.root == "local" && mod.localByName[r.name] != nil {
				localEdges[loc.Name] = append(localEdges[loc.Name], edge{to: r.name, rng: r.rng})
			}
		}
	}
	for _, cycle := range model.Cycles(localNames, localEdges, edgeTo, edgeRange) {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cycle in local values",
			Detail: model.DescribeCycle(cycle, edgeTo, edgeRange, func(n string) string { return "local." + n }) +
				" A local value cannot depend on itself, directly or through others; remove one of these references.",
			Subject: cycle[0].rng.Ptr(),
		})
		for _, e := range cycle {
			l.localVals[e.to] = unknownValue
		}
	}
	for _, loc := range mod.locals {
		vars := map[string]bool{}
		collectLocal(loc.Name, localRefs, map[string]bool{}, vars)
		l.localVars[loc.Name] = vars
	}

	// Stages: the references they make (directly or through locals) to
	// undeclared names, and the variables their defaults use. Cycles
	// between stages are model.Check's.
	for _, s := range mod.stages {
		if s.Syntax == nil {
			continue
		}
		refs := referencesIn(traversalsIn(s.Syntax.Body))
		l.checkDeclared(mod, refs)
		s.defaultVars = map[string]bool{}
		for _, name := range []string{"env", "workdir", "user", "shell"} {
			if attr, ok := s.Syntax.Body.Attributes[name]; ok {
				l.varsOf(referencesIn(attr.Expr.Variables()), s.defaultVars)
			}
		}
	}
}

// varsOf adds the variables refs name, directly or through locals, to into.
func (l *loader) varsOf(refs []reference, into map[string]bool) {
	for _, r := range refs {
		switch r.root {
		case "var":
			into[r.name] = true
		case "local":
			for v := range l.localVars[r.name] {
				into[v] = true
			}
		}
	}
}

func collectLocal(name string, localRefs map[string][]reference, seen, vars map[string]bool) {
	if seen[name] {
		return
	}
	seen[name] = true
	for _, r := range localRefs[name] {
		switch r.root {
		case "var":
			vars[r.name] = true
		case "local":
			collectLocal(r.name, localRefs, seen, vars)
		}
	}
}

// checkDeclared reports references to names nobody declared.
func (l *loader) checkDeclared(mod *module, refs []reference) {
	for _, r := range refs {
		var d *hcl.Diagnostic
		switch r.root {
		case "var":
			if mod.varByName[r.name] == nil {
				d = &hcl.Diagnostic{
					Summary: "Reference to undeclared variable",
					Detail: fmt.Sprintf("No variable %q is declared.%s Declare it with a variable block, or fix the name.",
						r.name, model.Suggestion(r.name, sortedKeys(mod.varByName), "var.")),
				}
			}
		case "local":
			if mod.localByName[r.name] == nil {
				d = &hcl.Diagnostic{
					Summary: "Reference to undeclared local value",
					Detail: fmt.Sprintf("No local value %q is declared.%s Declare it in a locals block, or fix the name.",
						r.name, model.Suggestion(r.name, sortedKeys(mod.localByName), "local.")),
				}
			}
		case "module":
			d = l.checkModuleReference(mod, r.tr)
		case "stage", "image":
			t := mod.stageByName[r.name]
			switch {
			case t == nil:
				var candidates []string
				for _, s := range mod.stages {
					candidates = append(candidates, s.Name)
				}
				hint := ""
				if s := model.DidYouMean(r.name, candidates); s != "" {
					hint = fmt.Sprintf(" Did you mean %q?", string(mod.stageByName[s].Kind)+"."+s)
				}
				d = &hcl.Diagnostic{
					Summary: "Reference to undeclared " + r.root,
					Detail: fmt.Sprintf("No %s %q is declared.%s Declare it with a %s block, or fix the name.",
						r.root, r.name, hint, r.root),
				}
			case string(t.Kind) != r.root:
				d = &hcl.Diagnostic{
					Summary: "Reference to undeclared " + r.root,
					Detail: fmt.Sprintf("%q is declared as %s %q, not as %s. Refer to it as %s.%s.",
						r.name, article(string(t.Kind)), r.name, article(r.root), t.Kind, r.name),
				}
			}
		}
		if d != nil {
			d.Severity = hcl.DiagError
			d.Subject = r.rng.Ptr()
			l.add(d)
			l.reported.add(r.rng)
		}
	}
}

func article(kind string) string {
	if kind == string(model.KindImage) {
		return "an image"
	}
	return "a stage"
}

type edge struct {
	to  string
	rng hcl.Range
}

func edgeTo(e edge) string       { return e.to }
func edgeRange(e edge) hcl.Range { return e.rng }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortByRange[T any](s []T, rng func(T) hcl.Range) {
	sort.SliceStable(s, func(i, j int) bool {
		a, b := rng(s[i]), rng(s[j])
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
}

// shortRange is "file:line" for details: the file relative to the
// working directory when it is below it (modules/svc/svc.image.hcl:24,
// as the diagnostics' headings name files), else its name alone, where
// the full path is noise.
func shortRange(r hcl.Range) string {
	name := filepath.Base(r.Filename)
	if wd, err := os.Getwd(); err == nil {
		if abs, err := filepath.Abs(r.Filename); err == nil {
			if rel, err := filepath.Rel(wd, abs); err == nil && !strings.HasPrefix(rel, "..") {
				name = filepath.ToSlash(rel)
			}
		}
	}
	return fmt.Sprintf("%s:%d", name, r.Start.Line)
}
