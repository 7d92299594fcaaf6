package lang

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/imgc-dev/imgc/model"
)

// Step definitions: `step "NAME" { variable "x" {...} run {...} ... }` at
// the top level declares a block type NAME that stages (and other
// definitions) use as a step, as they use the stdlib's macros. Its body
// sees only its own parameters, as var.NAME, and `platform`: nothing of
// the caller. This file decodes definitions and checks them statically;
// eval_stepdef.go expands their uses.

// stepDef is a decoded step definition.
type stepDef struct {
	Name        string
	Params      []*variableDecl
	paramByName map[string]*variableDecl
	Body        hcl.Body
	Syntax      *hclsyntax.Block
	DeclRange   hcl.Range
	// owner is the loader of the configuration (or module) that declares
	// the definition: its functions, syntax and directory.
	owner *loader
	// called tells that some stage used the definition, so its body was
	// checked by evaluating it; cyclic that it is part of a reported
	// cycle and expands to nothing.
	called, cyclic bool
}

// reservedStepNames are block and attribute names of stages and steps
// that a definition cannot take.
var reservedStepNames = []string{"run", "copy", "add", "layer", "steps", "config", "variable", "use", "step", "module", "mount", "dynamic"}

func (l *loader) decodeStepDefBlock(b *hcl.Block) *stepDef {
	d := &stepDef{
		Name:        b.Labels[0],
		Body:        b.Body,
		Syntax:      l.syntax.block(b.DefRange),
		DeclRange:   b.DefRange,
		owner:       l,
		paramByName: map[string]*variableDecl{},
	}
	if !l.checkName("step definition", d.Name, b.LabelRanges[0]) {
		return nil
	}
	taken := contains(reservedStepNames, d.Name)
	for _, a := range stageAttributes {
		taken = taken || a.Name == d.Name
	}
	_, macro := l.macros[d.Name]
	if taken || macro {
		what := "a block or attribute of stages"
		if macro {
			what = "a built-in step macro"
		}
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Step definition name taken",
			Detail:   fmt.Sprintf("%q is %s, so a step definition cannot take it. Rename the definition, for example to %q.", d.Name, what, "my_"+d.Name),
			Subject:  b.LabelRanges[0].Ptr(),
		})
		return nil
	}
	content, _, diags := b.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "variable", LabelNames: []string{"name"}}}})
	l.add(diags...)
	for _, vb := range content.Blocks {
		p := l.decodeVariableBlock(vb)
		if p == nil {
			continue
		}
		if prev, dup := d.paramByName[p.Name]; dup {
			l.add(duplicate("parameter", p.Name, prev.DeclRange, p.DeclRange))
			continue
		}
		d.paramByName[p.Name] = p
		d.Params = append(d.Params, p)
	}
	return d
}

// defSchema is the schema of a definition's body: its parameters and its
// steps.
func (l *loader) defSchema() *hcl.BodySchema {
	return &hcl.BodySchema{Blocks: append([]hcl.BlockHeaderSchema{{Type: "variable", LabelNames: []string{"name"}}}, l.stepBlocks(true)...)}
}

// checkStepDefs checks every definition's body against the schema (once,
// here, not at each use), its references and the cycles between
// definitions.
func (l *loader) checkStepDefs(mod *module) {
	var names []string
	edges := map[string][]edge{}
	for _, d := range mod.defs {
		names = append(names, d.Name)
		// Dynamic blocks are expanded at each use; here their label
		// names the block type they make.
		schema := l.defSchema()
		schema.Blocks = append(schema.Blocks, hcl.BlockHeaderSchema{Type: "dynamic", LabelNames: []string{"type"}})
		content, diags := d.Body.Content(schema)
		l.add(diags...)
		for _, dg := range diags {
			if dg.Subject != nil {
				l.reported.add(*dg.Subject)
			}
		}
		for _, b := range content.Blocks {
			if b.Type == "variable" {
				continue
			}
			if b.Type == "layer" {
				inner, _ := b.Body.Content(&hcl.BodySchema{Blocks: l.stepBlocks(false)})
				for _, ib := range inner.Blocks {
					if mod.defByName[ib.Type] != nil {
						edges[d.Name] = append(edges[d.Name], edge{to: ib.Type, rng: ib.DefRange})
					}
				}
				continue
			}
			typ := b.Type
			if typ == "dynamic" {
				typ = b.Labels[0]
			}
			if mod.defByName[typ] != nil {
				edges[d.Name] = append(edges[d.Name], edge{to: typ, rng: b.DefRange})
			}
		}
		if d.Syntax != nil {
			l.checkDefReferences(d, referencesIn(traversalsIn(d.Syntax.Body)))
		}
	}
	for _, cycle := range model.Cycles(names, edges, edgeTo, edgeRange) {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cycle in step definitions",
			Detail: model.DescribeCycle(cycle, edgeTo, edgeRange, func(n string) string { return "step " + n }) +
				" A step definition cannot use itself, directly or through others; remove one of these uses.",
			Subject: cycle[0].rng.Ptr(),
		})
		for _, e := range cycle {
			mod.defByName[e.to].cyclic = true
		}
	}
}

// checkDefReferences reports what a definition's body refers to besides
// its own parameters.
func (l *loader) checkDefReferences(d *stepDef, refs []reference) {
	for _, r := range refs {
		var diag *hcl.Diagnostic
		switch {
		case r.root == "var" && d.paramByName[r.name] == nil:
			diag = &hcl.Diagnostic{
				Summary: "Reference to undeclared parameter",
				Detail: fmt.Sprintf("The step definition %q declares no parameter %q.%s Inside a step definition var.NAME names its own parameters only; declare it with a variable block in the definition, or fix the name.",
					d.Name, r.name, model.Suggestion(r.name, sortedKeys(d.paramByName), "var.")),
			}
		case r.root != "var":
			diag = &hcl.Diagnostic{
				Summary: "Reference outside the step definition",
				Detail: fmt.Sprintf("A step definition sees only its own parameters (var.NAME) and platform, so it cannot use %s.%s. Declare a parameter, such as variable %q in step %q, and pass the value where the step is used.",
					r.root, r.name, r.name, d.Name),
			}
		}
		if diag != nil {
			diag.Severity = hcl.DiagError
			diag.Subject = r.rng.Ptr()
			l.add(diag)
			l.reported.add(r.rng)
		}
	}
}

// callLabel renders a use of a definition or macro for people: its name
// and the values of the arguments that were set, in declaration order
// ("go_service_build ./cmd/api").
func callLabel(name string, params []string, args map[string]cty.Value, hidden map[string]bool) string {
	parts := []string{name}
	for _, p := range params {
		v, ok := args[p]
		if !ok || hidden[p] || v.IsNull() || !v.IsWhollyKnown() {
			continue
		}
		switch {
		case v.Type() == cty.String:
			parts = append(parts, v.AsString())
		case v.Type() == cty.Number:
			parts = append(parts, v.AsBigFloat().Text('f', -1))
		case v.Type() == cty.Bool:
			parts = append(parts, fmt.Sprint(v.True()))
		case v.Type().IsListType() || v.Type().IsSetType() || v.Type().IsTupleType():
			seen := map[string]bool{}
			for it := v.ElementIterator(); it.Next(); {
				if _, e := it.Element(); e.Type() == cty.String && !e.IsNull() && !seen[e.AsString()] {
					seen[e.AsString()] = true
					parts = append(parts, e.AsString())
				}
			}
		}
	}
	return strings.Join(parts, " ")
}
