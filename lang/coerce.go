package lang

import (
	"fmt"
	"math/big"
	"path"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/imgc-dev/imgc/model"
)

// Value coercion: evaluating one raw attribute and converting its value to
// what the model holds (a string, a list, a map, an env list, a size),
// reporting at the attribute what does not convert.

// value evaluates attr; ok is false on errors (reported), unknown values
// (the consequence of an error reported elsewhere) and null (unset).
func (e *evaluator) value(attr *hcl.Attribute) (cty.Value, bool) {
	val, diags := attr.Expr.Value(e.ctx)
	e.l.addEval(diags)
	if diags.HasErrors() || !val.IsWhollyKnown() || val.IsNull() {
		return cty.NilVal, false
	}
	return val, true
}

// unknown reports whether attr evaluates without errors of its own to a
// value that is not wholly known: it uses a value whose error was
// reported elsewhere.
func (e *evaluator) unknown(attr *hcl.Attribute) bool {
	val, diags := attr.Expr.Value(e.ctx)
	return !diags.HasErrors() && !val.IsWhollyKnown()
}

func (e *evaluator) convert(val cty.Value, ty cty.Type, attr *hcl.Attribute) (cty.Value, bool) {
	return e.l.convert(val, ty, attr)
}

func (l *loader) convert(val cty.Value, ty cty.Type, attr *hcl.Attribute) (cty.Value, bool) {
	out, err := convert.Convert(val, ty)
	if err != nil {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail: fmt.Sprintf("Inappropriate value for attribute %q: %s. Give a value of type %s.",
				attr.Name, err, typeString(ty)),
			Subject: attr.Expr.Range().Ptr(),
		})
		return cty.NilVal, false
	}
	if out.IsNull() {
		return cty.NilVal, false
	}
	return out, true
}

func (e *evaluator) invalid(attr *hcl.Attribute, summary, detail string) {
	e.l.add(&hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   detail,
		Subject:  attr.Expr.Range().Ptr(),
	})
}

func (e *evaluator) str(attrs hcl.Attributes, name string) (string, bool) {
	attr, ok := attrs[name]
	if !ok {
		return "", false
	}
	val, ok := e.value(attr)
	if !ok {
		return "", false
	}
	if val, ok = e.convert(val, cty.String, attr); !ok {
		return "", false
	}
	return val.AsString(), true
}

func (e *evaluator) nonEmpty(attrs hcl.Attributes, name string) (string, bool) {
	s, ok := e.str(attrs, name)
	if ok && s == "" {
		e.invalid(attrs[name], "Empty "+name, fmt.Sprintf("`%s` must not be empty. Give it a value.", name))
		return "", false
	}
	return s, ok
}

// strs evaluates a list of strings; with single, a lone string is a list
// of one.
func (e *evaluator) strs(attrs hcl.Attributes, name string, single bool) ([]string, bool) {
	attr, ok := attrs[name]
	if !ok {
		return nil, false
	}
	val, ok := e.value(attr)
	if !ok {
		return nil, false
	}
	if single && val.Type() == cty.String {
		return []string{val.AsString()}, true
	}
	list, ok := e.convert(val, cty.List(cty.String), attr)
	if !ok {
		return nil, false
	}
	return stringsOf(list), true
}

// sources evaluates src: a string or a non-empty list of non-empty paths.
func (e *evaluator) sources(attrs hcl.Attributes, name string) ([]string, bool) {
	src, ok := e.strs(attrs, name, true)
	if !ok {
		return nil, false
	}
	if len(src) == 0 || contains(src, "") {
		e.invalid(attrs[name], "Empty source path", "Every step needs at least one source, and no source path may be empty.")
		return nil, false
	}
	return src, true
}

func (e *evaluator) absPaths(attrs hcl.Attributes, name string) []string {
	paths, ok := e.strs(attrs, name, false)
	if !ok {
		return nil
	}
	for _, p := range paths {
		if !path.IsAbs(p) {
			e.invalid(attrs[name], "Relative path in "+name,
				fmt.Sprintf("%q is relative. The paths in `%s` are absolute paths in the image filesystem; start it with /.", p, name))
			return nil
		}
	}
	return paths
}

func (e *evaluator) boolean(attrs hcl.Attributes, name string, def bool) bool {
	attr, ok := attrs[name]
	if !ok {
		return def
	}
	val, ok := e.value(attr)
	if !ok {
		return def
	}
	if val, ok = e.convert(val, cty.Bool, attr); !ok {
		return def
	}
	return val.True()
}

func (e *evaluator) integer(attrs hcl.Attributes, name string) (int64, bool) {
	attr, ok := attrs[name]
	if !ok {
		return 0, false
	}
	val, ok := e.value(attr)
	if !ok {
		return 0, false
	}
	if val, ok = e.convert(val, cty.Number, attr); !ok {
		return 0, false
	}
	bf := val.AsBigFloat()
	n, acc := bf.Int64()
	if acc != big.Exact {
		e.invalid(attr, "Invalid number", fmt.Sprintf("The %s must be a whole number.", name))
		return 0, false
	}
	return n, true
}

func (e *evaluator) shell(attrs hcl.Attributes, name string) []string {
	sh, ok := e.strs(attrs, name, false)
	if ok && len(sh) == 0 {
		e.invalid(attrs[name], "Empty shell", "The shell names the program that runs sh commands, such as [\"/bin/sh\", \"-c\"]; it cannot be empty.")
		return nil
	}
	return sh
}

func (e *evaluator) chmod(attrs hcl.Attributes) string {
	s, ok := e.str(attrs, "chmod")
	if !ok {
		return ""
	}
	if !chmodPattern.MatchString(s) {
		e.invalid(attrs["chmod"], "Invalid file mode", fmt.Sprintf("%q is not an octal file mode. Write three or four octal digits, such as \"0755\".", s))
		return ""
	}
	return s
}

func (e *evaluator) chown(attrs hcl.Attributes) string {
	s, ok := e.str(attrs, "chown")
	if !ok {
		return ""
	}
	if !chownPattern.MatchString(s) {
		e.invalid(attrs["chown"], "Invalid owner", fmt.Sprintf("%q is not an owner. Write USER or USER:GROUP, by name or numeric id.", s))
		return ""
	}
	if err := model.ValidateUser(s); err != nil {
		e.invalid(attrs["chown"], "Invalid owner", capitalize(err.Error())+". Give a smaller numeric id, or a name.")
		return ""
	}
	return s
}

func (e *evaluator) oneOf(attr *hcl.Attribute, v, what string, allowed ...string) bool {
	if contains(allowed, v) {
		return true
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = strconv.Quote(a)
	}
	e.invalid(attr, "Invalid "+what,
		fmt.Sprintf("%q is not a valid %s.%s Use one of %s.", v, what, model.Suggestion(v, allowed, ""), strings.Join(quoted, ", ")))
	return false
}

// env evaluates a map of environment variables. Written as an object
// constructor, its order is kept; otherwise (merge(...), a variable) it
// is sorted by name.
func (e *evaluator) env(attrs hcl.Attributes, name string) []model.EnvVar {
	attr, ok := attrs[name]
	if !ok {
		return nil
	}
	var out []model.EnvVar
	set := func(k, v string) {
		for i := range out {
			if out[i].Name == k {
				out[i].Value = v
				return
			}
		}
		out = append(out, model.EnvVar{Name: k, Value: v})
	}
	if obj, ok := attr.Expr.(*hclsyntax.ObjectConsExpr); ok {
		for _, item := range obj.Items {
			kv, diags := item.KeyExpr.Value(e.ctx)
			e.l.addEval(diags)
			vv, vdiags := item.ValueExpr.Value(e.ctx)
			e.l.addEval(vdiags)
			if diags.HasErrors() || vdiags.HasErrors() || !kv.IsWhollyKnown() || !vv.IsWhollyKnown() {
				continue
			}
			k, err := convert.Convert(kv, cty.String)
			if err != nil || k.IsNull() {
				e.invalid(attr, "Invalid environment variable name", "Environment variable names are strings.")
				continue
			}
			if vv.IsNull() {
				continue
			}
			v, err := convert.Convert(vv, cty.String)
			if err != nil {
				e.l.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Incorrect attribute value type",
					Detail:   fmt.Sprintf("The value of environment variable %q must be a string: %s.", k.AsString(), err),
					Subject:  item.ValueExpr.Range().Ptr(),
				})
				continue
			}
			if e.envName(attr, k.AsString()) {
				set(k.AsString(), v.AsString())
			}
		}
		return out
	}
	m, ok := e.strMap(attrs, name)
	if !ok {
		return nil
	}
	for _, k := range sortedKeys(m) {
		if e.envName(attr, k) {
			set(k, m[k])
		}
	}
	return out
}

func (e *evaluator) envName(attr *hcl.Attribute, k string) bool {
	if k == "" || strings.ContainsAny(k, "=\x00") {
		e.invalid(attr, "Invalid environment variable name", fmt.Sprintf("%q cannot be an environment variable name: it is empty or holds \"=\".", k))
		return false
	}
	return true
}

func (e *evaluator) strMap(attrs hcl.Attributes, name string) (map[string]string, bool) {
	attr, ok := attrs[name]
	if !ok {
		return nil, false
	}
	val, ok := e.value(attr)
	if !ok {
		return nil, false
	}
	m, ok := e.convert(val, cty.Map(cty.String), attr)
	if !ok {
		return nil, false
	}
	out := map[string]string{}
	for k, v := range m.AsValueMap() {
		if !v.IsNull() { // null means unset, as for attributes
			out[k] = v.AsString()
		}
	}
	return out, true
}

func stringsOf(list cty.Value) []string {
	out := []string{}
	for it := list.ElementIterator(); it.Next(); {
		_, v := it.Element()
		if v.IsNull() {
			continue
		}
		out = append(out, v.AsString())
	}
	return out
}

// parseSize reads a tmpfs size: a number of bytes, or a string with a
// binary unit suffix (k, m, g).
func parseSize(val cty.Value) (int64, error) {
	if val.Type() == cty.Number {
		n, acc := val.AsBigFloat().Int64()
		if acc != big.Exact || n < 0 {
			return 0, fmt.Errorf("the size must be a whole, non-negative number of bytes")
		}
		return n, nil
	}
	sval, err := convert.Convert(val, cty.String)
	if err != nil {
		return 0, fmt.Errorf("the size must be a number of bytes or a string such as \"64m\"")
	}
	s := strings.ToLower(strings.TrimSpace(sval.AsString()))
	mult := int64(1)
	for suffix, m := range map[string]int64{"k": 1 << 10, "m": 1 << 20, "g": 1 << 30} {
		if t, ok := strings.CutSuffix(strings.TrimSuffix(s, "b"), suffix); ok && t != "" {
			s, mult = t, m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size. Write a number of bytes, or a number with k, m or g, such as \"64m\"", sval.AsString())
	}
	return n * mult, nil
}

// elementRange is the range of element i of a list written as a tuple
// constructor, else the whole expression's.
func elementRange(attr *hcl.Attribute, i int) hcl.Range {
	if t, ok := attr.Expr.(*hclsyntax.TupleConsExpr); ok && i < len(t.Exprs) {
		return t.Exprs[i].Range()
	}
	return attr.Expr.Range()
}

// misspelt reports whether body has an argument schema does not declare
// whose closest declared name, as "Did you mean" suggests it, is one of
// names.
func misspelt(body hcl.Body, schema *hcl.BodySchema, names ...string) bool {
	_, rest, _ := body.PartialContent(schema)
	attrs, _ := rest.JustAttributes()
	var declared []string
	for _, a := range schema.Attributes {
		declared = append(declared, a.Name)
	}
	for name := range attrs {
		if contains(names, model.DidYouMean(name, declared)) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
