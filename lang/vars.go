package lang

import (
	"cmp"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/imgc-dev/imgc/model"
)

// unknownValue stands in for a value whose evaluation failed, so that the
// failure is reported once and not again at every use.
var unknownValue = cty.DynamicVal

// varValue is a variable's value and where it came from, for diagnostics.
type varValue struct {
	val    cty.Value
	source string     // "the default", "--var", "IMGC_VAR_x", "the var file f"
	rng    *hcl.Range // the value's source range, when it has one
}

// variableValues takes each variable's value from its default, then from
// opts.Vars in order (VarSources gives the precedence), and converts it to
// the variable's type.
func (l *loader) variableValues(mod *module, parser *hclparse.Parser, opts Options) map[string]cty.Value {
	raw := map[string]varValue{}
	for _, v := range mod.variables {
		if v.Default != cty.NilVal {
			r := v.DefaultExpr.Range()
			raw[v.Name] = varValue{val: v.Default, source: "the default", rng: &r}
		}
	}
	for _, src := range opts.Vars {
		switch src.Kind {
		case VarFile:
			l.varFileValues(mod, parser, src.Path, raw)
		case VarEnv:
			// Like Terraform: the environment is shared with other
			// configurations, so an unknown name is not an error.
			if v := mod.varByName[src.Name]; v != nil {
				val, _ := l.parseRawValue(v, src.Value, EnvVarPrefix+src.Name)
				raw[src.Name] = varValue{val: val, source: src.String()}
			}
		case VarFlag:
			v := mod.varByName[src.Name]
			if v == nil && model.IsProxyArg(src.Name) {
				continue // a proxy for run steps (engine.BuildOptions.ProxyEnv)
			}
			if v == nil {
				l.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Value for undeclared variable",
					Detail: fmt.Sprintf("--var sets %q, which the configuration does not declare.%s Remove it, or declare the variable.",
						src.Name, model.Suggestion(src.Name, sortedKeys(mod.varByName), "")),
				})
				continue
			}
			val, _ := l.parseRawValue(v, src.Value, "--var "+src.Name)
			raw[src.Name] = varValue{val: val, source: src.String()}
		}
	}

	vals := l.convertVariables(mod, raw, opts)
	l.varVals = vals
	l.varSources = raw
	return vals
}

// varFileValues adds the values a --var-file gives to raw.
func (l *loader) varFileValues(mod *module, parser *hclparse.Parser, path string, raw map[string]varValue) {
	f, diags := ParseFile(parser, path, "Var file")
	l.add(diags...)
	if f == nil || diags.HasErrors() {
		return
	}
	attrs, diags := f.Body.JustAttributes()
	l.add(diags...)
	names := sortedKeys(attrs)
	sort.SliceStable(names, func(i, j int) bool {
		return attrs[names[i]].Range.Start.Byte < attrs[names[j]].Range.Start.Byte
	})
	for _, name := range names {
		attr := attrs[name]
		if mod.varByName[name] == nil {
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Value for undeclared variable",
				Detail: fmt.Sprintf("The var file sets %q, which the configuration does not declare.%s Remove it, or declare the variable.",
					name, model.Suggestion(name, sortedKeys(mod.varByName), "")),
				Subject: attr.NameRange.Ptr(),
			})
			continue
		}
		val, diags := attr.Expr.Value(&hcl.EvalContext{Functions: l.funcs})
		l.add(diags...)
		if diags.HasErrors() {
			val = unknownValue
		}
		r := attr.Expr.Range()
		raw[name] = varValue{val: val, source: "the var file " + path, rng: &r}
	}
}

// convertVariables gives every variable its value from raw, converted to
// its type; a missing or invalid one is reported and unknown (a missing
// one only unknown with opts.ValuesOptional).
func (l *loader) convertVariables(mod *module, raw map[string]varValue, opts Options) map[string]cty.Value {
	vals := map[string]cty.Value{}
	for _, v := range mod.variables {
		given, ok := raw[v.Name]
		if !ok && v.defaultFailed {
			vals[v.Name] = unknownValue
			continue
		}
		if !ok && opts.ValuesOptional {
			vals[v.Name] = cty.UnknownVal(v.Type)
			continue
		}
		if !ok {
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing required variable",
				Detail: fmt.Sprintf("The variable %q has no default and no value was given. Set it with --var %s=VALUE, in a --var-file, or in the environment as %s%s, or give it a default.",
					v.Name, v.Name, EnvVarPrefix, v.Name),
				Subject: v.DeclRange.Ptr(),
			})
			vals[v.Name] = unknownValue
			continue
		}
		val := given.val
		if !val.IsWhollyKnown() {
			// An unreadable value, already reported.
			vals[v.Name] = unknownValue
			continue
		}
		if v.Defaults != nil {
			val = v.Defaults.Apply(val)
		}
		conv, err := convert.Convert(val, v.Type)
		if err != nil {
			d := &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for variable",
				Detail: fmt.Sprintf("The value from %s is not valid for var.%s: %s. Give a value of type %s.",
					given.source, v.Name, convertError(err), cmp.Or(v.TypeText, typeString(v.Type))),
				Subject: given.rng,
			}
			if d.Subject == nil {
				d.Subject = v.DeclRange.Ptr()
			}
			l.add(d)
			vals[v.Name] = unknownValue
			continue
		}
		if conv.IsNull() && !v.Nullable {
			d := &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for variable",
				Detail:   fmt.Sprintf("The value from %s is null, and var.%s is not nullable. Give it a value.", given.source, v.Name),
				Subject:  given.rng,
			}
			if d.Subject == nil {
				d.Subject = v.DeclRange.Ptr()
			}
			l.add(d)
			vals[v.Name] = unknownValue
			continue
		}
		vals[v.Name] = conv
	}
	return vals
}

// parseRawValue reads a value given as text (--var, the environment): as
// is for string variables (and untyped ones), as an HCL expression
// otherwise.
func (l *loader) parseRawValue(v *variableDecl, text, source string) (cty.Value, bool) {
	if v.Type == cty.String || v.Type == cty.DynamicPseudoType {
		return cty.StringVal(text), true
	}
	diags := checkExpression(source, []byte(text))
	var expr hclsyntax.Expression
	if !diags.HasErrors() {
		expr, diags = hclsyntax.ParseExpression([]byte(text), source, hcl.Pos{Line: 1, Column: 1})
	}
	if !diags.HasErrors() {
		var vdiags hcl.Diagnostics
		val, vdiags := expr.Value(&hcl.EvalContext{Functions: l.funcs})
		if !vdiags.HasErrors() {
			return val, true
		}
		diags = vdiags
	}
	shown := fmt.Sprintf("%q", text)
	if v.Sensitive {
		shown = "(sensitive)"
	}
	l.add(&hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid value for variable",
		Detail: fmt.Sprintf("The value %s from %s cannot be read as a %s for var.%s. Values of variables that are not strings are written in HCL syntax, for example 3, true, [\"a\", \"b\"] or {key = \"value\"}.",
			shown, source, typeString(v.Type), v.Name),
		Subject: v.DeclRange.Ptr(),
	})
	return unknownValue, false
}

// validateVariables runs every variable's validation rules.
func (l *loader) validateVariables(mod *module, vals map[string]cty.Value) {
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": objectOf(vals)},
		Functions: l.funcs,
	}
	sensitive := map[string]bool{}
	for _, v := range mod.variables {
		sensitive[v.Name] = v.Sensitive
	}
	for _, v := range mod.variables {
		if !vals[v.Name].IsWhollyKnown() {
			continue
		}
		for _, rule := range v.Validations {
			cond, diags := rule.Condition.Value(ctx)
			l.addEval(diags)
			if diags.HasErrors() || !cond.IsWhollyKnown() {
				continue
			}
			cond, err := convert.Convert(cond, cty.Bool)
			if err != nil || cond.IsNull() {
				l.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid validation condition",
					Detail:   "The condition must be true or false. Rewrite it as a boolean expression.",
					Subject:  rule.Condition.Range().Ptr(),
				})
				continue
			}
			if cond.True() {
				continue
			}
			msg := "The value is not valid."
			mval, diags := rule.ErrorMessage.Value(ctx)
			l.addEval(diags)
			if s, err := convert.Convert(mval, cty.String); err == nil && s.IsKnown() && !s.IsNull() {
				msg = strings.TrimSpace(s.AsString())
			}
			for _, tr := range rule.ErrorMessage.Variables() {
				if len(tr) > 1 && tr.RootName() == "var" {
					if a, ok := tr[1].(hcl.TraverseAttr); ok && sensitive[a.Name] {
						// As Terraform: a message that shows a sensitive
						// value is not shown.
						msg = fmt.Sprintf("The value is not valid. (The error message uses the sensitive var.%s, so it is not shown.)", a.Name)
					}
				}
			}
			subject := rule.Condition.Range().Ptr()
			source := ""
			if given, ok := l.varSources[v.Name]; ok {
				source = " The value came from " + given.source + "."
				if given.rng != nil {
					subject = given.rng
				}
			}
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for variable",
				Detail: fmt.Sprintf("%s\n\nThis was checked by the validation rule at %s.%s",
					msg, shortRange(rule.DeclRange), source),
				Subject: subject,
			})
		}
	}
}

// evaluateLocals evaluates locals in dependency order; those in a cycle
// (already reported) stay unknown.
func (l *loader) evaluateLocals(mod *module, vals map[string]cty.Value) {
	state := map[string]int{} // 0 new, 1 evaluating, 2 done
	var eval func(loc *localDecl)
	eval = func(loc *localDecl) {
		if state[loc.Name] != 0 {
			return
		}
		state[loc.Name] = 1
		if _, cyclic := l.localVals[loc.Name]; cyclic {
			state[loc.Name] = 2
			return
		}
		for _, r := range referencesIn(loc.Expr.Variables()) {
			if dep := mod.localByName[r.name]; r.root == "local" && dep != nil && state[dep.Name] == 0 {
				eval(dep)
			}
		}
		val, diags := loc.Expr.Value(l.localContext(mod, loc))
		l.addEval(diags)
		if diags.HasErrors() {
			val = unknownValue
		}
		l.localVals[loc.Name] = val
		state[loc.Name] = 2
	}
	for _, loc := range mod.locals {
		eval(loc)
	}
}

// evalContext is the context for stage bodies: var, local, stage, image
// and the functions. It is built once, after the locals are evaluated:
// building it for each of n stages took time n².
func (l *loader) evalContext(mod *module) *hcl.EvalContext {
	if l.stageCtx == nil {
		locals := map[string]cty.Value{}
		for _, loc := range mod.locals {
			if v, ok := l.localVals[loc.Name]; ok {
				locals[loc.Name] = v
			} else {
				locals[loc.Name] = unknownValue
			}
		}
		l.stageCtx = l.newContext(mod, locals)
	}
	return l.stageCtx
}

// localContext is the context for evaluating loc: it holds only the
// locals loc refers to, which are evaluated first (or unknown in a
// cycle), so that evaluating n locals takes time n, not n².
func (l *loader) localContext(mod *module, loc *localDecl) *hcl.EvalContext {
	locals := map[string]cty.Value{}
	for _, r := range referencesIn(loc.Expr.Variables()) {
		if r.root != "local" || mod.localByName[r.name] == nil {
			continue
		}
		if v, ok := l.localVals[r.name]; ok {
			locals[r.name] = v
		} else {
			locals[r.name] = unknownValue
		}
	}
	return l.newContext(mod, locals)
}

func (l *loader) newContext(mod *module, locals map[string]cty.Value) *hcl.EvalContext {
	if l.refVals == nil {
		stages, images := map[string]cty.Value{}, map[string]cty.Value{}
		for _, s := range mod.stages {
			ref := stageRef{Kind: s.Kind, Name: l.stageName(s)}
			val := cty.CapsuleVal(stageRefType, &ref)
			if s.Kind == model.KindImage {
				images[s.Name] = val
			} else {
				stages[s.Name] = val
			}
		}
		l.refVals = map[string]cty.Value{
			"var":      objectOf(l.varVals),
			"stage":    objectOf(stages),
			"image":    objectOf(images),
			"platform": l.platform,
			"module":   l.moduleValues(mod),
		}
	}
	vars := map[string]cty.Value{"local": objectOf(locals)}
	for k, v := range l.refVals {
		vars[k] = v
	}
	return &hcl.EvalContext{Variables: vars, Functions: l.funcs}
}

func objectOf(m map[string]cty.Value) cty.Value {
	if len(m) == 0 {
		return cty.EmptyObjectVal
	}
	return cty.ObjectVal(m)
}

// renderValue renders a variable's value for plan: strings as they are,
// everything else as JSON.
func renderValue(val cty.Value, sensitive bool) string {
	if sensitive {
		return "(sensitive)"
	}
	if val.IsNull() {
		return "null"
	}
	if val.Type() == cty.String {
		return val.AsString()
	}
	b, err := ctyjson.Marshal(val, val.Type())
	if err != nil {
		return val.GoString()
	}
	return string(b)
}

// sensitiveValues records a sensitive variable's value in out: a
// primitive as its string, a collection element by element (under
// NAME[KEY]), since steps interpolate elements, not the collection.
func sensitiveValues(name string, val cty.Value, out map[string]string) {
	switch {
	case val.IsNull() || !val.IsKnown():
	case val.Type().IsPrimitiveType():
		if s, err := convert.Convert(val, cty.String); err == nil && !s.IsNull() {
			out[name] = s.AsString()
		}
	case val.CanIterateElements():
		for it := val.ElementIterator(); it.Next(); {
			k, v := it.Element()
			key := k.GoString()
			if ks, err := convert.Convert(k, cty.String); err == nil && !ks.IsNull() {
				key = ks.AsString()
			}
			sensitiveValues(name+"["+key+"]", v, out)
		}
	}
}

// convertError is a conversion error with where in the value it is, as
// Terraform says it: `element "api": attribute "port": a number is
// required` (cty's message alone names no place).
func convertError(err error) string {
	var pe cty.PathError
	if !errors.As(err, &pe) || len(pe.Path) == 0 {
		return err.Error()
	}
	var parts []string
	for _, step := range pe.Path {
		switch s := step.(type) {
		case cty.GetAttrStep:
			parts = append(parts, fmt.Sprintf("attribute %q", s.Name))
		case cty.IndexStep:
			switch {
			case s.Key.Type() == cty.String && s.Key.IsKnown():
				parts = append(parts, fmt.Sprintf("element %q", s.Key.AsString()))
			case s.Key.Type() == cty.Number && s.Key.IsKnown():
				parts = append(parts, "element "+s.Key.AsBigFloat().Text('f', -1))
			}
		}
	}
	return strings.Join(append(parts, pe.Error()), ": ")
}

func typeString(ty cty.Type) string {
	if ty == cty.DynamicPseudoType {
		return "any"
	}
	return typeexpr.TypeString(ty)
}
