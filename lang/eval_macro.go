package lang

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/imgc-dev/imgc/model"
	"github.com/imgc-dev/imgc/stdlib"
)

// decodeMacroBlock decodes a step macro block against the arguments the
// macro declares: its raw attributes.
func decodeMacroBlock(b *hcl.Block, m stdlib.Macro) (*hcl.BodyContent, hcl.Diagnostics) {
	schema := &hcl.BodySchema{}
	for _, a := range m.Attributes {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: a.Name, Required: a.Required})
	}
	return b.Body.Content(schema)
}

// macro evaluates a step macro block and turns its expansion into steps
// that carry the macro block's range. It reports every bad argument: each
// one HCL or a conversion rejects, and each one Expand rejects, at the
// argument (Expand never hears of the ones already reported).
func (e *evaluator) macro(b *hcl.Block, m stdlib.Macro, rng hcl.Range, vars []string) []model.Step {
	content, diags := decodeMacroBlock(b, m)
	e.l.addEval(diags)
	broken := diags.HasErrors()
	// reported are the arguments with an error already: missing, or
	// failing to evaluate or convert. They are null for Expand.
	reported := map[string]bool{}
	args := map[string]cty.Value{}
	for _, a := range m.Attributes {
		args[a.Name] = cty.NullVal(a.Type)
		attr, ok := content.Attributes[a.Name]
		if !ok {
			reported[a.Name] = a.Required
			continue
		}
		val, diags := attr.Expr.Value(e.ctx)
		e.l.addEval(diags)
		if diags.HasErrors() || !val.IsWhollyKnown() {
			reported[a.Name] = true
			continue
		}
		if val.IsNull() {
			continue
		}
		conv, ok := e.convert(val, a.Type, attr)
		if !ok {
			reported[a.Name] = true
			continue
		}
		args[a.Name] = conv
	}
	expansion, err := m.Expand(args)
	for _, ae := range stdlib.ArgErrors(err) {
		if reported[ae.Attr] {
			continue
		}
		subject := b.DefRange
		if attr, ok := content.Attributes[ae.Attr]; ok {
			subject = attr.Expr.Range()
		}
		e.l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid " + m.Name + " argument",
			Detail:   model.Sentence(ae.Error()),
			Subject:  subject.Ptr(),
		})
	}
	if err != nil || broken {
		return nil
	}
	for _, bad := range reported {
		if bad {
			return nil
		}
	}
	label := macroLabel(m, args)
	for _, step := range expansion {
		switch step := step.(type) {
		case *model.Run:
			step.Vars, step.Macro, step.MacroLabel, step.Range = vars, m.Name, label, rng
			for i := range step.Mounts {
				step.Mounts[i].Range = rng
			}
		case *model.Copy:
			step.Vars, step.Macro, step.Range = vars, m.Name, rng
		default:
			panic(fmt.Sprintf("lang: macro %s expanded to a step of type %T", m.Name, step))
		}
	}
	return expansion
}

// macroLabel renders a macro block for people: its name and the values of
// its arguments that were set, in declaration order ("user app 1000").
func macroLabel(m stdlib.Macro, args map[string]cty.Value) string {
	parts := []string{m.Name}
	for _, a := range m.Attributes {
		v := args[a.Name]
		if v.IsNull() || !v.IsWhollyKnown() {
			continue
		}
		switch {
		case v.Type() == cty.String:
			parts = append(parts, v.AsString())
		case v.Type() == cty.Number:
			parts = append(parts, v.AsBigFloat().Text('f', -1))
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
