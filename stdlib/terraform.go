package stdlib

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// Functions whose go-cty version differs from Terraform's, written as
// Terraform's (internal/lang/funcs), and Terraform functions go-cty lacks.

// IndexFunc is the index of the first element of a list equal to value,
// as Terraform's index (go-cty's index reads an element).
var IndexFunc = function.New(&function.Spec{
	Description: "The index of the first element of a list or tuple equal to a value.",
	Params: []function.Parameter{
		{Name: "list", Type: cty.DynamicPseudoType},
		{Name: "value", Type: cty.DynamicPseudoType},
	},
	Type: function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		list := args[0]
		if !list.Type().IsListType() && !list.Type().IsTupleType() {
			return cty.NilVal, errors.New("the first argument must be a list or a tuple")
		}
		if !list.IsKnown() {
			return cty.UnknownVal(cty.Number), nil
		}
		if list.LengthInt() == 0 {
			return cty.NilVal, errors.New("cannot search an empty list")
		}
		for it := list.ElementIterator(); it.Next(); {
			i, v := it.Element()
			eq, err := stdlib.Equal(v, args[1])
			if err != nil {
				return cty.NilVal, err
			}
			if !eq.IsKnown() {
				return cty.UnknownVal(cty.Number), nil
			}
			if eq.True() {
				return i, nil
			}
		}
		return cty.NilVal, errors.New("item not found")
	},
})

// CoalesceFunc is its first argument that is not null, nor an empty string
// when the arguments are strings, as Terraform's coalesce.
var CoalesceFunc = function.New(&function.Spec{
	Description: "The first argument that is not null or an empty string.",
	VarParam:    &function.Parameter{Name: "vals", Type: cty.DynamicPseudoType, AllowUnknown: true, AllowDynamicType: true, AllowNull: true},
	Type: func(args []cty.Value) (cty.Type, error) {
		return stdlib.CoalesceFunc.ReturnTypeForValues(args)
	},
	Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
		for _, v := range args {
			v, err := convert.Convert(v, retType)
			if err != nil {
				return cty.NilVal, err
			}
			if !v.IsKnown() {
				return cty.UnknownVal(retType), nil
			}
			if v.IsNull() || (retType == cty.String && v.RawEquals(cty.StringVal(""))) {
				continue
			}
			return v, nil
		}
		return cty.NilVal, errors.New("no non-null, non-empty-string arguments")
	},
})

// ReplaceFunc replaces every occurrence of substring in a string, or of
// the regular expression /RE/ (whose matches $1... name), as Terraform's
// replace.
var ReplaceFunc = function.New(&function.Spec{
	Description: "Replaces each occurrence of a substring, or of a /regular expression/.",
	Params: []function.Parameter{
		{Name: "str", Type: cty.String},
		{Name: "substr", Type: cty.String},
		{Name: "replace", Type: cty.String},
	},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		str, substr, repl := args[0].AsString(), args[1].AsString(), args[2].AsString()
		if len(substr) > 1 && substr[0] == '/' && substr[len(substr)-1] == '/' {
			re, err := regexp.Compile(substr[1 : len(substr)-1])
			if err != nil {
				return cty.NilVal, err
			}
			return cty.StringVal(re.ReplaceAllString(str, repl)), nil
		}
		return cty.StringVal(strings.ReplaceAll(str, substr, repl)), nil
	},
})

// LookupFunc is a map's element of a key, else the default; without a
// default a missing key is an error, as Terraform's lookup.
var LookupFunc = function.New(&function.Spec{
	Description: "A map's element of a key, or the default when it has none.",
	Params: []function.Parameter{
		{Name: "inputMap", Type: cty.DynamicPseudoType, AllowMarked: true},
		{Name: "key", Type: cty.String, AllowMarked: true},
	},
	VarParam: &function.Parameter{Name: "default", Type: cty.DynamicPseudoType, AllowUnknown: true, AllowDynamicType: true, AllowNull: true, AllowMarked: true},
	Type: func(args []cty.Value) (cty.Type, error) {
		if len(args) > 3 {
			return cty.NilType, errors.New("lookup takes a map, a key and at most one default")
		}
		if len(args) == 3 {
			return stdlib.LookupFunc.ReturnTypeForValues(args)
		}
		ty := args[0].Type()
		switch {
		case ty.IsMapType():
			return ty.ElementType(), nil
		case ty.IsObjectType():
			if !args[1].IsKnown() {
				return cty.DynamicPseudoType, nil
			}
			key := args[1].AsString()
			if ty.HasAttribute(key) {
				return ty.AttributeType(key), nil
			}
			return cty.DynamicPseudoType, nil
		}
		return cty.NilType, errors.New("the first argument must be a map or an object")
	},
	Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
		if len(args) == 3 {
			return stdlib.LookupFunc.Call(args)
		}
		key := args[1].AsString()
		m := args[0]
		if !m.IsKnown() {
			return cty.UnknownVal(retType), nil
		}
		if m.Type().IsObjectType() {
			if m.Type().HasAttribute(key) {
				return m.GetAttr(key), nil
			}
		} else if v := m.Index(cty.StringVal(key)); m.HasIndex(cty.StringVal(key)).True() {
			return v, nil
		}
		return cty.NilVal, fmt.Errorf("the map has no key %q; give a default as the third argument", key)
	},
})

// stringPredicate makes a function of two strings that tells something of
// them (startswith, endswith, strcontains).
func stringPredicate(desc string, f func(s, t string) bool) function.Function {
	return function.New(&function.Spec{
		Description: desc,
		Params:      []function.Parameter{{Name: "str", Type: cty.String}, {Name: "substr", Type: cty.String}},
		Type:        function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.BoolVal(f(args[0].AsString(), args[1].AsString())), nil
		},
	})
}

// stringFunc makes a function of one string to a string.
func stringFunc(desc string, f func(s string) string) function.Function {
	return function.New(&function.Spec{
		Description: desc,
		Params:      []function.Parameter{{Name: "str", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.StringVal(f(args[0].AsString())), nil
		},
	})
}

// boolReduce makes alltrue (all) and anytrue (!all) of a list of bools.
func boolReduce(desc string, all bool) function.Function {
	return function.New(&function.Spec{
		Description: desc,
		Params:      []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
		Type:        function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			for it := args[0].ElementIterator(); it.Next(); {
				_, v := it.Element()
				if !v.IsKnown() {
					return cty.UnknownVal(cty.Bool), nil
				}
				if !v.IsNull() && v.True() != all {
					return cty.BoolVal(!all), nil
				}
			}
			return cty.BoolVal(all), nil
		},
	})
}

// SumFunc adds up a list of numbers, as Terraform's sum.
var SumFunc = function.New(&function.Spec{
	Description: "The total of a list or set of numbers.",
	Params:      []function.Parameter{{Name: "list", Type: cty.DynamicPseudoType}},
	Type:        function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		list := args[0]
		if !list.CanIterateElements() || list.LengthInt() == 0 {
			return cty.NilVal, errors.New("sum takes a non-empty list or set of numbers")
		}
		total := cty.Zero
		for it := list.ElementIterator(); it.Next(); {
			_, v := it.Element()
			n, err := convert.Convert(v, cty.Number)
			if err != nil || n.IsNull() {
				return cty.NilVal, errors.New("sum takes a list or set of numbers")
			}
			total = total.Add(n)
		}
		return total, nil
	},
})

// OneFunc is the only element of a list, or null of an empty one, as
// Terraform's one.
var OneFunc = function.New(&function.Spec{
	Description: "The only element of a list, tuple or set, or null when it is empty.",
	Params:      []function.Parameter{{Name: "list", Type: cty.DynamicPseudoType}},
	Type: func(args []cty.Value) (cty.Type, error) {
		ty := args[0].Type()
		switch {
		case ty.IsListType() || ty.IsSetType():
			return ty.ElementType(), nil
		case ty.IsTupleType():
			switch len(ty.TupleElementTypes()) {
			case 0:
				return cty.DynamicPseudoType, nil
			case 1:
				return ty.TupleElementTypes()[0], nil
			}
			return cty.NilType, errors.New("must be a list, set or tuple of at most one element")
		}
		return cty.NilType, errors.New("must be a list, set or tuple")
	},
	Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
		switch args[0].LengthInt() {
		case 0:
			return cty.NullVal(retType), nil
		case 1:
			it := args[0].ElementIterator()
			it.Next()
			_, v := it.Element()
			return v, nil
		}
		return cty.NilVal, errors.New("must be a list, set or tuple of at most one element")
	},
})

func hexDigest(sum func([]byte) []byte) func(string) string {
	return func(s string) string { return hex.EncodeToString(sum([]byte(s))) }
}

// terraformFunctions are the functions above, by name.
func terraformFunctions() map[string]function.Function {
	return map[string]function.Function{
		"index":        IndexFunc,
		"coalesce":     CoalesceFunc,
		"replace":      ReplaceFunc,
		"lookup":       LookupFunc,
		"startswith":   stringPredicate("Whether a string starts with a prefix.", strings.HasPrefix),
		"endswith":     stringPredicate("Whether a string ends with a suffix.", strings.HasSuffix),
		"strcontains":  stringPredicate("Whether a string contains a substring.", strings.Contains),
		"basename":     stringFunc("The last element of a path.", path.Base),
		"dirname":      stringFunc("All but the last element of a path.", path.Dir),
		"urlencode":    stringFunc("A string escaped for a URL's query.", url.QueryEscape),
		"md5":          stringFunc("The MD5 of a string, in hex.", hexDigest(func(b []byte) []byte { s := md5.Sum(b); return s[:] })),
		"sha1":         stringFunc("The SHA-1 of a string, in hex.", hexDigest(func(b []byte) []byte { s := sha1.Sum(b); return s[:] })),
		"base64sha256": stringFunc("The SHA-256 of a string, in base64.", func(s string) string { h := sha256.Sum256([]byte(s)); return base64.StdEncoding.EncodeToString(h[:]) }),
		"alltrue":      boolReduce("Whether every element of a list is true.", true),
		"anytrue":      boolReduce("Whether any element of a list is true.", false),
		"sum":          SumFunc,
		"one":          OneFunc,
	}
}
