package lang

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/imgc-dev/imgc/model"
)

// callDef expands a use of a step definition: it evaluates the arguments
// in the caller's context, checks them against the parameters (types,
// nullability, validation rules, all reported at the use), and evaluates
// the definition's body in a context of the parameters alone. The steps
// it returns carry the use's range, the caller's variables and a label
// naming the use; each keeps its own block in the definition as its
// Definition, for plan and for failures.
func (e *evaluator) callDef(b *hcl.Block, def *stepDef, rng hcl.Range, vars []string) []model.Step {
	for _, on := range e.stack {
		if on == def && !def.cyclic {
			e.l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cycle in step definitions",
				Detail:   fmt.Sprintf("The step definition %q uses itself here, through the steps that use it. Remove this use.", def.Name),
				Subject:  b.DefRange.Ptr(),
			})
		}
		if on == def {
			return nil
		}
	}
	if def.cyclic {
		return nil
	}
	def.called = true
	params, given, ok := e.defArguments(b, def)
	if !ok || !e.validateParams(b, def, params, given) {
		return nil
	}
	root := e.l.root()
	before := len(root.diags)
	ev := &evaluator{l: def.owner, ctx: def.owner.defContext(params), stack: append(e.stack, def), inLayer: e.inLayer, inDef: true}
	steps := ev.defBody(def, rng)
	for _, d := range root.diags[before:] {
		if d.Subject != nil && within(*d.Subject, def.owner.blockRange(def.DeclRange)) {
			d.Detail += fmt.Sprintf("\n\nThis is in the step definition %q, used at %s.", def.Name, shortRange(b.DefRange))
		}
	}
	hidden := map[string]bool{}
	var names []string
	for _, p := range def.Params {
		if p.Sensitive {
			if root.sensitive == nil {
				root.sensitive = map[string]string{}
			}
			sensitiveValues("step."+def.Name+"."+p.Name, params[p.Name], root.sensitive)
		}
		names = append(names, p.Name)
		hidden[p.Name] = p.Sensitive || given[p.Name] == nil
	}
	label := callLabel(strings.TrimPrefix(def.owner.prefix, "module.")+def.Name, names, params, hidden)
	for _, s := range steps {
		placeExpanded(s, rng, vars, label)
	}
	return steps
}

// placeExpanded makes a step expanded from a definition the use's: its
// range, variables and label; its range in the definition becomes its
// Definition unless an inner use set one.
func placeExpanded(s model.Step, call hcl.Range, vars []string, label string) {
	switch s := s.(type) {
	case *model.Run:
		if s.Definition.Filename == "" {
			s.Definition = s.Range
		}
		s.Range, s.Vars, s.Macro, s.MacroLabel = call, vars, label, label
	case *model.Copy:
		if s.Definition.Filename == "" {
			s.Definition = s.Range
		}
		s.Range, s.Vars, s.Macro = call, vars, label
	case *model.Add:
		if s.Definition.Filename == "" {
			s.Definition = s.Range
		}
		s.Range, s.Vars, s.Macro = call, vars, label
	case *model.Layer:
		s.Range = call
		for _, inner := range s.Steps {
			placeExpanded(inner, call, vars, label)
		}
	}
}

func within(r, outer hcl.Range) bool {
	return r.Filename == outer.Filename && r.Start.Byte >= outer.Start.Byte && r.End.Byte <= outer.End.Byte
}

// defArguments evaluates a use's arguments and converts each to its
// parameter's type; given holds the attributes that were set.
func (e *evaluator) defArguments(b *hcl.Block, def *stepDef) (map[string]cty.Value, map[string]*hcl.Attribute, bool) {
	schema := &hcl.BodySchema{}
	for _, p := range def.Params {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: p.Name, Required: p.Default == cty.NilVal && !p.defaultFailed})
	}
	content, diags := b.Body.Content(schema)
	e.l.addEval(diags)
	ok := !diags.HasErrors()
	params := map[string]cty.Value{}
	given := map[string]*hcl.Attribute{}
	for _, p := range def.Params {
		attr, set := content.Attributes[p.Name]
		var val cty.Value
		switch {
		case set:
			given[p.Name] = attr
			v, diags := attr.Expr.Value(e.ctx)
			e.l.addEval(diags)
			if diags.HasErrors() || !v.IsWhollyKnown() {
				ok = false
				continue
			}
			val = v
		case p.Default != cty.NilVal:
			val = p.Default
		default:
			ok = false // missing (reported) or a failed default
			continue
		}
		subject := b.DefRange
		if set {
			subject = attr.Expr.Range()
		}
		if p.Defaults != nil && !val.IsNull() {
			val = p.Defaults.Apply(val)
		}
		conv, err := convert.Convert(val, p.Type)
		if err != nil {
			e.l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for step parameter",
				Detail: fmt.Sprintf("The value is not valid for the parameter %q of step %q (declared at %s): %s. Give a value of type %s.",
					p.Name, def.Name, shortRange(p.DeclRange), convertError(err), typeString(p.Type)),
				Subject: subject.Ptr(),
			})
			ok = false
			continue
		}
		if conv.IsNull() && !p.Nullable {
			e.l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Null value for step parameter",
				Detail: fmt.Sprintf("The parameter %q of step %q (declared at %s) is not nullable. Give it a value.",
					p.Name, def.Name, shortRange(p.DeclRange)),
				Subject: subject.Ptr(),
			})
			ok = false
			continue
		}
		params[p.Name] = conv
	}
	return params, given, ok
}

// validateParams runs the parameters' validation rules, reporting a
// failure at the argument (or the use, for a default).
func (e *evaluator) validateParams(b *hcl.Block, def *stepDef, params map[string]cty.Value, given map[string]*hcl.Attribute) bool {
	ctx := def.owner.defContext(params)
	ok := true
	for _, p := range def.Params {
		for _, rule := range p.Validations {
			cond, diags := rule.Condition.Value(ctx)
			e.l.addEval(diags)
			if diags.HasErrors() || !cond.IsWhollyKnown() {
				ok = false
				continue
			}
			cond, err := convert.Convert(cond, cty.Bool)
			if err != nil || cond.IsNull() {
				e.l.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid validation condition",
					Detail:   "The condition must be true or false. Rewrite it as a boolean expression.",
					Subject:  rule.Condition.Range().Ptr(),
				})
				ok = false
				continue
			}
			if cond.True() {
				continue
			}
			msg := "The value is not valid."
			if m, diags := rule.ErrorMessage.Value(ctx); !diags.HasErrors() {
				if s, err := convert.Convert(m, cty.String); err == nil && s.IsKnown() && !s.IsNull() {
					msg = s.AsString()
				}
			}
			subject := b.DefRange
			if attr := given[p.Name]; attr != nil {
				subject = attr.Expr.Range()
			}
			e.l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for step parameter",
				Detail: fmt.Sprintf("%s\n\nThis was checked by the validation rule of the parameter %q of step %q at %s.",
					msg, p.Name, def.Name, shortRange(rule.DeclRange)),
				Subject: subject.Ptr(),
			})
			ok = false
		}
	}
	return ok
}

// defContext is the context of a definition's body: its parameters as
// var, platform, and the functions of the configuration declaring it.
func (l *loader) defContext(params map[string]cty.Value) *hcl.EvalContext {
	return &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": objectOf(params), "platform": l.platform},
		Functions: l.funcs,
	}
}

// defBody evaluates a definition's steps and layers. Its schema errors
// were reported by checkStepDefs.
func (e *evaluator) defBody(def *stepDef, call hcl.Range) []model.Step {
	content, diags := dynblock.Expand(def.Body, e.ctx).Content(e.l.defSchema())
	e.l.addEval(diags)
	var out []model.Step
	for _, b := range content.Blocks {
		switch b.Type {
		case "variable":
		case "layer":
			if e.inLayer {
				e.l.root().add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Layer inside a layer",
					Detail: fmt.Sprintf("The step definition %q makes a layer (at %s), so it cannot be used inside a layer block. Use it outside the layer.",
						def.Name, shortRange(b.DefRange)),
					Subject: call.Ptr(),
				})
				continue
			}
			out = append(out, &model.Layer{Name: b.Labels[0], Range: call, Steps: e.layerSteps(b.Body, nil)})
		default:
			out = append(out, e.step(b, nil)...)
		}
	}
	return out
}

// checkUncalledDefs evaluates, once, each definition no stage uses, with
// its parameters unknown, so that validate reports what is wrong in it
// beyond its schema and references.
func (l *loader) checkUncalledDefs(mod *module) {
	for _, def := range mod.defs {
		if def.called || def.cyclic {
			continue
		}
		params := map[string]cty.Value{}
		for _, p := range def.Params {
			params[p.Name] = cty.UnknownVal(p.Type)
		}
		ev := &evaluator{l: l, ctx: l.defContext(params), stack: []*stepDef{def}, inDef: true}
		ev.defBody(def, def.DeclRange)
	}
}
