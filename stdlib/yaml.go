package stdlib

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
)

// YAMLEncodeFunc renders a value as a YAML 1.2 block document. Strings are
// always double-quoted (JSON string syntax, which is valid YAML) so that no
// value changes type when read back ("yes", "1.0", "null").
var YAMLEncodeFunc = function.New(&function.Spec{
	Description: "Encodes a value as YAML.",
	Params: []function.Parameter{{
		Name:             "value",
		Type:             cty.DynamicPseudoType,
		AllowDynamicType: true,
		AllowNull:        true,
	}},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if !args[0].IsWhollyKnown() {
			return cty.UnknownVal(cty.String), nil
		}
		var b strings.Builder
		if err := writeYAML(&b, args[0], 0, false); err != nil {
			return cty.NilVal, err
		}
		return cty.StringVal(b.String()), nil
	},
})

func isScalarYAML(v cty.Value) bool {
	ty := v.Type()
	if v.IsNull() || ty.IsPrimitiveType() {
		return true
	}
	return v.LengthInt() == 0
}

// writeYAML writes v at the given indentation. inline tells that the
// caller already wrote "key:" or "-" on the current line.
func writeYAML(b *strings.Builder, v cty.Value, indent int, inline bool) error {
	pad := strings.Repeat("  ", indent)
	ty := v.Type()
	if isScalarYAML(v) {
		if inline {
			b.WriteString(" ")
		}
		s, err := yamlScalar(v)
		if err != nil {
			return err
		}
		b.WriteString(s)
		b.WriteString("\n")
		return nil
	}
	if inline {
		b.WriteString("\n")
	}
	switch {
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType():
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			b.WriteString(pad + "-")
			if err := writeYAML(b, ev, indent+1, true); err != nil {
				return err
			}
		}
	case ty.IsMapType() || ty.IsObjectType():
		for it := v.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			b.WriteString(pad + strconv.Quote(k.AsString()) + ":")
			if err := writeYAML(b, ev, indent+1, true); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("cannot encode a value of type %s as YAML", ty.FriendlyName())
	}
	return nil
}

func yamlScalar(v cty.Value) (string, error) {
	ty := v.Type()
	switch {
	case v.IsNull():
		return "null", nil
	case ty == cty.String:
		return strconv.Quote(v.AsString()), nil
	case ty == cty.Number:
		return v.AsBigFloat().Text('f', -1), nil
	case ty == cty.Bool:
		return strconv.FormatBool(v.True()), nil
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType():
		return "[]", nil
	case ty.IsMapType() || ty.IsObjectType():
		return "{}", nil
	}
	return "", fmt.Errorf("cannot encode a value of type %s as YAML", ty.FriendlyName())
}

func convertToString(v cty.Value) (cty.Value, error) {
	if v.IsNull() {
		return cty.NilVal, errors.New("the template produced null")
	}
	out, err := convert.Convert(v, cty.String)
	if err != nil {
		return cty.NilVal, fmt.Errorf("the template produced a %s, not a string", v.Type().FriendlyName())
	}
	return out, nil
}
