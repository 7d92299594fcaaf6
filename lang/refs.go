package lang

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// DidYouMean returns the candidate closest to name when it is close enough
// to be a likely typo, or "".
func DidYouMean(name string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := levenshtein.Distance(name, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

func suggestion(name string, candidates []string, prefix string) string {
	if s := DidYouMean(name, candidates); s != "" {
		return fmt.Sprintf(" Did you mean %q?", prefix+s)
	}
	return ""
}

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
	root string // var, local, stage, image
	name string
	rng  hcl.Range
}

func referenceOf(tr hcl.Traversal) (reference, bool) {
	root := tr.RootName()
	switch root {
	case "var", "local", "stage", "image":
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
	return reference{root: root, name: attr.Name, rng: hcl.RangeBetween(tr[0].SourceRange(), tr[1].SourceRange())}, true
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

// checkReferences reports references to undeclared names and cycles, and
// records what the later phases need: each stage's dependencies and the
// variables behind each local.
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
	for _, cycle := range findCycles(localNames, localEdges) {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cycle in local values",
			Detail: describeCycle(cycle, func(n string) string { return "local." + n }) +
				" A local value cannot depend on itself, directly or through others; remove one of these references.",
			Subject: cycle[0].rng.Ptr(),
		})
		for _, e := range cycle {
			l.localVals[e.to] = unknownValue
		}
	}
	localStages := map[string][]string{}
	for _, loc := range mod.locals {
		vars, stages := map[string]bool{}, map[string]bool{}
		collectLocal(loc.Name, localRefs, map[string]bool{}, vars, stages)
		l.localVars[loc.Name] = vars
		for s := range stages {
			localStages[loc.Name] = append(localStages[loc.Name], s)
		}
		sort.Strings(localStages[loc.Name])
	}

	// Stages: dependencies (directly or through locals), then cycles.
	var stageNames []string
	stageEdges := map[string][]edge{}
	for _, s := range mod.stages {
		stageNames = append(stageNames, s.Name)
		if s.Syntax == nil {
			continue
		}
		refs := referencesIn(traversalsIn(s.Syntax.Body))
		l.checkDeclared(mod, refs)
		for _, r := range refs {
			switch r.root {
			case "stage", "image":
				if t := mod.stageByName[r.name]; t != nil && string(t.Kind) == r.root {
					s.deps = append(s.deps, stageRef{Kind: t.Kind, Name: t.Name, Range: r.rng})
				}
			case "local":
				for _, name := range localStages[r.name] {
					t := mod.stageByName[name]
					s.deps = append(s.deps, stageRef{Kind: t.Kind, Name: t.Name, Range: r.rng})
				}
			}
		}
		for _, d := range s.deps {
			stageEdges[s.Name] = append(stageEdges[s.Name], edge{to: d.Name, rng: d.Range})
		}
		s.defaultVars = map[string]bool{}
		for _, name := range []string{"env", "workdir", "user", "shell"} {
			if attr, ok := s.Syntax.Body.Attributes[name]; ok {
				l.varsOf(referencesIn(attr.Expr.Variables()), s.defaultVars)
			}
		}
	}
	kindOf := func(n string) string { return string(mod.stageByName[n].Kind) + "." + n }
	for _, cycle := range findCycles(stageNames, stageEdges) {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cycle between stages",
			Detail: describeCycle(cycle, kindOf) +
				" A stage cannot depend on itself, directly or through other stages; remove one of these references.",
			Subject: cycle[0].rng.Ptr(),
		})
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

func collectLocal(name string, localRefs map[string][]reference, seen, vars, stages map[string]bool) {
	if seen[name] {
		return
	}
	seen[name] = true
	for _, r := range localRefs[name] {
		switch r.root {
		case "var":
			vars[r.name] = true
		case "stage", "image":
			stages[r.name] = true
		case "local":
			collectLocal(r.name, localRefs, seen, vars, stages)
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
						r.name, suggestion(r.name, sortedKeys(mod.varByName), "var.")),
				}
			}
		case "local":
			if mod.localByName[r.name] == nil {
				d = &hcl.Diagnostic{
					Summary: "Reference to undeclared local value",
					Detail: fmt.Sprintf("No local value %q is declared.%s Declare it in a locals block, or fix the name.",
						r.name, suggestion(r.name, sortedKeys(mod.localByName), "local.")),
				}
			}
		case "stage", "image":
			t := mod.stageByName[r.name]
			switch {
			case t == nil:
				var candidates []string
				for _, s := range mod.stages {
					candidates = append(candidates, s.Name)
				}
				hint := ""
				if s := DidYouMean(r.name, candidates); s != "" {
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
	if kind == string(KindImage) {
		return "an image"
	}
	return "a stage"
}

type edge struct {
	to  string
	rng hcl.Range
}

// findCycles returns one cycle per strongly connected component that has
// one, each as the edges from its first node (in nodes order) back to it.
func findCycles(nodes []string, edges map[string][]edge) [][]edge {
	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var sccs [][]string
	next := 0
	var connect func(n string)
	connect = func(n string) {
		index[n], low[n] = next, next
		next++
		stack = append(stack, n)
		onStack[n] = true
		for _, e := range edges[n] {
			if _, seen := index[e.to]; !seen {
				connect(e.to)
				low[n] = min(low[n], low[e.to])
			} else if onStack[e.to] {
				low[n] = min(low[n], index[e.to])
			}
		}
		if low[n] == index[n] {
			var scc []string
			for {
				m := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[m] = false
				scc = append(scc, m)
				if m == n {
					break
				}
			}
			sccs = append(sccs, scc)
		}
	}
	for _, n := range nodes {
		if _, seen := index[n]; !seen {
			connect(n)
		}
	}

	order := map[string]int{}
	for i, n := range nodes {
		order[n] = i
	}
	var cycles [][]edge
	for _, scc := range sccs {
		in := map[string]bool{}
		for _, n := range scc {
			in[n] = true
		}
		sort.Slice(scc, func(i, j int) bool { return order[scc[i]] < order[scc[j]] })
		start := scc[0]
		if len(scc) == 1 {
			for _, e := range edges[start] {
				if e.to == start {
					cycles = append(cycles, []edge{{to: start, rng: e.rng}})
					break
				}
			}
			continue
		}
		// Breadth-first from start back to start, inside the component.
		type step struct {
			from string
			e    edge
		}
		prev := map[string]step{}
		queue := []string{start}
		found := false
		for len(queue) > 0 && !found {
			n := queue[0]
			queue = queue[1:]
			for _, e := range edges[n] {
				if !in[e.to] {
					continue
				}
				if e.to == start {
					prev[start] = step{from: n, e: e}
					found = true
					break
				}
				if _, seen := prev[e.to]; !seen {
					prev[e.to] = step{from: n, e: e}
					queue = append(queue, e.to)
				}
			}
		}
		if !found {
			continue
		}
		var cycle []edge
		for n := start; ; {
			s := prev[n]
			cycle = append([]edge{s.e}, cycle...)
			n = s.from
			if n == start {
				break
			}
		}
		cycles = append(cycles, cycle)
	}
	sort.Slice(cycles, func(i, j int) bool {
		return cycles[i][0].rng.Start.Byte < cycles[j][0].rng.Start.Byte
	})
	return cycles
}

// describeCycle renders "a refers to b (at f:3), which refers to a (at f:7)."
// The cycle's edges run from its start node around and back.
func describeCycle(cycle []edge, name func(string) string) string {
	start := cycle[len(cycle)-1].to
	var b strings.Builder
	from := start
	for i, e := range cycle {
		if i == 0 {
			fmt.Fprintf(&b, "%s refers to %s (at %s)", name(from), name(e.to), shortRange(e.rng))
		} else {
			fmt.Fprintf(&b, ", which refers to %s (at %s)", name(e.to), shortRange(e.rng))
		}
		from = e.to
	}
	b.WriteString(".")
	return b.String()
}

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

// shortRange is "file:line" for details, where the full path is noise.
func shortRange(r hcl.Range) string {
	return fmt.Sprintf("%s:%d", filepath.Base(r.Filename), r.Start.Line)
}
