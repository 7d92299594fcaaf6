package stdlib

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	"golang.org/x/mod/semver"
)

// Functions returns every function an expression may call. Relative paths
// given to the file functions are resolved against baseDir, the
// configuration's directory.
func Functions(baseDir string) map[string]function.Function {
	fns := map[string]function.Function{
		// numeric
		"abs":      stdlib.AbsoluteFunc,
		"ceil":     stdlib.CeilFunc,
		"floor":    stdlib.FloorFunc,
		"log":      stdlib.LogFunc,
		"max":      stdlib.MaxFunc,
		"min":      stdlib.MinFunc,
		"parseint": stdlib.ParseIntFunc,
		"pow":      stdlib.PowFunc,
		"signum":   stdlib.SignumFunc,

		// string
		"chomp":         stdlib.ChompFunc,
		"format":        stdlib.FormatFunc,
		"formatlist":    stdlib.FormatListFunc,
		"indent":        stdlib.IndentFunc,
		"join":          stdlib.JoinFunc,
		"lower":         stdlib.LowerFunc,
		"regex":         stdlib.RegexFunc,
		"regexall":      stdlib.RegexAllFunc,
		"regex_replace": stdlib.RegexReplaceFunc,
		"split":         stdlib.SplitFunc,
		"strrev":        stdlib.ReverseFunc,
		"substr":        stdlib.SubstrFunc,
		"title":         stdlib.TitleFunc,
		"trim":          stdlib.TrimFunc,
		"trimprefix":    stdlib.TrimPrefixFunc,
		"trimspace":     stdlib.TrimSpaceFunc,
		"trimsuffix":    stdlib.TrimSuffixFunc,
		"upper":         stdlib.UpperFunc,

		// collection
		"chunklist":       stdlib.ChunklistFunc,
		"coalescelist":    stdlib.CoalesceListFunc,
		"compact":         stdlib.CompactFunc,
		"concat":          stdlib.ConcatFunc,
		"contains":        stdlib.ContainsFunc,
		"distinct":        stdlib.DistinctFunc,
		"element":         stdlib.ElementFunc,
		"flatten":         stdlib.FlattenFunc,
		"keys":            stdlib.KeysFunc,
		"length":          LengthFunc,
		"merge":           stdlib.MergeFunc,
		"range":           stdlib.RangeFunc,
		"reverse":         stdlib.ReverseListFunc,
		"setintersection": stdlib.SetIntersectionFunc,
		"setproduct":      stdlib.SetProductFunc,
		"setsubtract":     stdlib.SetSubtractFunc,
		"setunion":        stdlib.SetUnionFunc,
		"slice":           stdlib.SliceFunc,
		"sort":            stdlib.SortFunc,
		"values":          stdlib.ValuesFunc,
		"zipmap":          stdlib.ZipmapFunc,

		// encoding
		"base64decode": Base64DecodeFunc,
		"base64encode": Base64EncodeFunc,
		"csvdecode":    stdlib.CSVDecodeFunc,
		"jsondecode":   stdlib.JSONDecodeFunc,
		"jsonencode":   stdlib.JSONEncodeFunc,
		"yamlencode":   YAMLEncodeFunc,

		// date
		"formatdate": stdlib.FormatDateFunc,
		"timeadd":    stdlib.TimeAddFunc,

		// type conversion and error handling
		"tobool":   stdlib.MakeToFunc(cty.Bool),
		"tolist":   stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"tomap":    stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
		"tonumber": stdlib.MakeToFunc(cty.Number),
		"toset":    stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
		"tostring": stdlib.MakeToFunc(cty.String),
		"can":      tryfunc.CanFunc,
		"try":      tryfunc.TryFunc,

		// imgc
		"env":        EnvFunc,
		"file":       MakeFileFunc(baseDir),
		"fileexists": MakeFileExistsFunc(baseDir),
		"filebase64": MakeFileBase64Func(baseDir),
		"abspath":    MakeAbsPathFunc(baseDir),
		"fileset":    MakeFileSetFunc(baseDir),
		"filesha256": MakeFileSHA256Func(baseDir),
		"semvercmp":  SemverCmpFunc,
		"sha256":     SHA256Func,
	}
	for name, fn := range terraformFunctions() {
		fns[name] = fn
	}
	// templatefile sees every other function; it cannot call itself, which
	// rules out unbounded recursion through templates.
	fns["templatefile"] = MakeTemplateFileFunc(baseDir, func() map[string]function.Function {
		inner := make(map[string]function.Function, len(fns))
		for name, fn := range fns {
			if name != "templatefile" {
				inner[name] = fn
			}
		}
		return inner
	})
	return fns
}

// fileError says in words why the file p could not be read, as
// Terraform's file() does ("no file exists at"), rather than Go's chain.
func fileError(p string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no file exists at %s (a relative path starts at the configuration's directory)", p)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("the file %s cannot be read: permission denied", p)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("the file %s cannot be read: %v", p, pe.Err)
	}
	return fmt.Errorf("reading %s: %w", p, err)
}

// templateError says at which line of the template p parsing or rendering
// it failed, and why, in one sentence.
func templateError(doing, p string, diags hcl.Diagnostics) error {
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		at := ""
		if d.Subject != nil {
			at = fmt.Sprintf(", line %d", d.Subject.Start.Line)
		}
		return fmt.Errorf("%s the template %s%s: %s: %s", doing, p, at, d.Summary, strings.TrimSuffix(d.Detail, "."))
	}
	return fmt.Errorf("%s the template %s: %w", doing, p, diags)
}

// LengthFunc is the number of characters of a string or elements of a
// collection, as Terraform's length.
var LengthFunc = function.New(&function.Spec{
	Description: "The number of characters in a string or elements in a collection.",
	Params: []function.Parameter{{
		Name:             "value",
		Type:             cty.DynamicPseudoType,
		AllowDynamicType: true,
		AllowUnknown:     true,
		AllowMarked:      true,
	}},
	Type: func(args []cty.Value) (cty.Type, error) {
		ty := args[0].Type()
		switch {
		case ty == cty.String, ty == cty.DynamicPseudoType, ty.IsCollectionType(), ty.IsTupleType(), ty.IsObjectType():
			return cty.Number, nil
		default:
			return cty.Number, errors.New("argument must be a string, a collection type, or a structural type")
		}
	},
	RefineResult: func(b *cty.RefinementBuilder) *cty.RefinementBuilder { return b.NotNull() },
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		val, marks := args[0].Unmark()
		if val.Type() == cty.String {
			if !val.IsKnown() {
				return cty.UnknownVal(cty.Number).WithMarks(marks), nil
			}
			if val.IsNull() {
				return cty.NilVal, errors.New("argument must not be null")
			}
			return cty.NumberIntVal(int64(utf8.RuneCountInString(val.AsString()))).WithMarks(marks), nil
		}
		if val.Type() == cty.DynamicPseudoType || !val.IsKnown() {
			return cty.UnknownVal(cty.Number).WithMarks(marks), nil
		}
		return val.Length().WithMarks(marks), nil
	},
})

// EnvFunc reads an environment variable of the imgc process: env(name) or
// env(name, default). A missing variable without a default is an error so
// that a typo cannot silently produce an empty string.
var EnvFunc = function.New(&function.Spec{
	Description: "The value of an environment variable, or the default when it is unset.",
	Params:      []function.Parameter{{Name: "name", Type: cty.String}},
	VarParam:    &function.Parameter{Name: "default", Type: cty.String},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if len(args) > 2 {
			return cty.NilVal, function.NewArgErrorf(2, "env takes a name and at most one default")
		}
		name := args[0].AsString()
		if v, ok := os.LookupEnv(name); ok {
			return cty.StringVal(v), nil
		}
		if len(args) == 2 {
			return args[1], nil
		}
		return cty.NilVal, fmt.Errorf("environment variable %q is not set; pass a default as env(%q, \"...\") to allow that", name, name)
	},
})

// SHA256Func is the hex SHA-256 digest of a string's UTF-8 bytes.
var SHA256Func = stringFunc("The hex-encoded SHA-256 digest of a string.", hexDigest(func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }))

// Base64EncodeFunc encodes a string's UTF-8 bytes as standard base64.
var Base64EncodeFunc = function.New(&function.Spec{
	Description: "Encodes a string as base64.",
	Params:      []function.Parameter{{Name: "str", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.StringVal(base64.StdEncoding.EncodeToString([]byte(args[0].AsString()))), nil
	},
})

// Base64DecodeFunc decodes standard base64 that must encode UTF-8 text.
var Base64DecodeFunc = function.New(&function.Spec{
	Description: "Decodes a base64 string that holds UTF-8 text.",
	Params:      []function.Parameter{{Name: "str", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		b, err := base64.StdEncoding.DecodeString(args[0].AsString())
		if err != nil {
			return cty.NilVal, fmt.Errorf("decoding base64: %w", err)
		}
		if !utf8.Valid(b) {
			return cty.NilVal, errors.New("the decoded bytes are not valid UTF-8")
		}
		return cty.StringVal(string(b)), nil
	},
})

// SemverCmpFunc compares two semantic versions (with or without a leading
// "v") and returns -1, 0 or 1.
var SemverCmpFunc = function.New(&function.Spec{
	Description: "Compares two semantic versions: -1 if a < b, 0 if equal, 1 if a > b.",
	Params: []function.Parameter{
		{Name: "a", Type: cty.String},
		{Name: "b", Type: cty.String},
	},
	Type: function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		var vs [2]string
		for i, arg := range args {
			v := arg.AsString()
			if !strings.HasPrefix(v, "v") {
				v = "v" + v
			}
			if !semver.IsValid(v) {
				return cty.NilVal, function.NewArgErrorf(i, "%q is not a semantic version (MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD])", arg.AsString())
			}
			vs[i] = v
		}
		return cty.NumberIntVal(int64(semver.Compare(vs[0], vs[1]))), nil
	},
})

// resolvePath makes p absolute against baseDir.
func resolvePath(baseDir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(baseDir, p)
}

// fileFunc makes a function of a file relative to baseDir: of its bytes
// read, a string.
func fileFunc(baseDir, desc string, of func(p string, b []byte) (string, error)) function.Function {
	return function.New(&function.Spec{
		Description: desc,
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			b, err := os.ReadFile(resolvePath(baseDir, p))
			if err != nil {
				return cty.NilVal, fileError(p, err)
			}
			out, err := of(p, b)
			if err != nil {
				return cty.NilVal, err
			}
			return cty.StringVal(out), nil
		},
	})
}

// MakeFileFunc reads a UTF-8 text file relative to baseDir.
func MakeFileFunc(baseDir string) function.Function {
	return fileFunc(baseDir, "The contents of a UTF-8 text file, relative to the configuration directory.", func(p string, b []byte) (string, error) {
		if !utf8.Valid(b) {
			return "", fmt.Errorf("%s is not valid UTF-8 text; use filesha256 for binary files", p)
		}
		return string(b), nil
	})
}

// MakeFileExistsFunc tells whether a regular file exists relative to baseDir.
func MakeFileExistsFunc(baseDir string) function.Function {
	return function.New(&function.Spec{
		Description: "Whether a file exists, relative to the configuration directory.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			fi, err := os.Stat(resolvePath(baseDir, args[0].AsString()))
			switch {
			case errors.Is(err, fs.ErrNotExist):
				return cty.False, nil
			case err != nil:
				return cty.NilVal, fmt.Errorf("checking file: %w", err)
			case !fi.Mode().IsRegular():
				return cty.NilVal, fmt.Errorf("%s is not a regular file", args[0].AsString())
			}
			return cty.True, nil
		},
	})
}

// MakeFileSHA256Func is the hex SHA-256 digest of a file's bytes.
func MakeFileSHA256Func(baseDir string) function.Function {
	return fileFunc(baseDir, "The hex-encoded SHA-256 digest of a file, relative to the configuration directory.", func(_ string, b []byte) (string, error) {
		sum := sha256.Sum256(b)
		return hex.EncodeToString(sum[:]), nil
	})
}

// MakeFileBase64Func reads a file relative to baseDir as base64, for a file
// that is not text, as Terraform's filebase64.
func MakeFileBase64Func(baseDir string) function.Function {
	return fileFunc(baseDir, "The contents of a file, relative to the configuration directory, in base64.", func(_ string, b []byte) (string, error) {
		return base64.StdEncoding.EncodeToString(b), nil
	})
}

// MakeAbsPathFunc makes a path absolute against baseDir (the directory of
// the configuration, or of the module, that calls it), as Terraform's
// abspath does against the working directory: a path passed into a
// module keeps its meaning (oci:${abspath("../bases/busybox")}:latest).
func MakeAbsPathFunc(baseDir string) function.Function {
	return function.New(&function.Spec{
		Description: "A path made absolute against the configuration's directory.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p, err := filepath.Abs(resolvePath(baseDir, args[0].AsString()))
			if err != nil {
				return cty.NilVal, err
			}
			return cty.StringVal(p), nil
		},
	})
}

// MakeFileSetFunc lists the regular files under dir (relative to baseDir)
// whose slash-separated path relative to dir matches pattern. Patterns use
// path.Match syntax per segment, and "**" matches any number of segments.
func MakeFileSetFunc(baseDir string) function.Function {
	return function.New(&function.Spec{
		Description: "The set of file paths under a directory that match a glob pattern (* ? [...] and **).",
		Params: []function.Parameter{
			{Name: "path", Type: cty.String},
			{Name: "pattern", Type: cty.String},
		},
		Type: function.StaticReturnType(cty.Set(cty.String)),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			root := resolvePath(baseDir, args[0].AsString())
			pattern := strings.Trim(path.Clean(filepath.ToSlash(args[1].AsString())), "/")
			if _, err := path.Match(strings.ReplaceAll(pattern, "**", "*"), ""); err != nil {
				return cty.NilVal, function.NewArgErrorf(1, "invalid pattern %q: %s", args[1].AsString(), err)
			}
			var matches []string
			err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil && p == root && errors.Is(err, fs.ErrNotExist) {
					return fs.SkipAll // no such directory: no files, as in Terraform
				}
				if err != nil {
					return err
				}
				if !d.Type().IsRegular() {
					return nil
				}
				rel, err := filepath.Rel(root, p)
				if err != nil {
					return err
				}
				rel = filepath.ToSlash(rel)
				if globMatch(strings.Split(pattern, "/"), strings.Split(rel, "/")) {
					matches = append(matches, rel)
				}
				return nil
			})
			if err != nil {
				return cty.NilVal, fmt.Errorf("listing files: %w", err)
			}
			if len(matches) == 0 {
				return cty.SetValEmpty(cty.String), nil
			}
			sort.Strings(matches)
			vals := make([]cty.Value, len(matches))
			for i, m := range matches {
				vals[i] = cty.StringVal(m)
			}
			return cty.SetVal(vals), nil
		},
	})
}

// globMatch matches path segments against pattern segments; "**" matches
// zero or more whole segments.
func globMatch(pattern, segs []string) bool {
	for len(pattern) > 0 {
		if pattern[0] == "**" {
			for i := 0; i <= len(segs); i++ {
				if globMatch(pattern[1:], segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, _ := path.Match(pattern[0], segs[0]); !ok {
			return false
		}
		pattern, segs = pattern[1:], segs[1:]
	}
	return len(segs) == 0
}

// MakeTemplateFileFunc renders a file as an HCL template with the given
// variables (an object or map) and the functions funcs returns.
func MakeTemplateFileFunc(baseDir string, funcs func() map[string]function.Function) function.Function {
	return function.New(&function.Spec{
		Description: "Renders a template file, relative to the configuration directory, with the given variables.",
		Params: []function.Parameter{
			{Name: "path", Type: cty.String},
			{Name: "vars", Type: cty.DynamicPseudoType},
		},
		Type: function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			src, err := os.ReadFile(resolvePath(baseDir, p))
			if err != nil {
				return cty.NilVal, fileError(p, err)
			}
			expr, diags := hclsyntax.ParseTemplate(src, p, hcl.Pos{Line: 1, Column: 1, Byte: 0})
			if diags.HasErrors() {
				return cty.NilVal, templateError("parsing", p, diags)
			}
			vars := args[1]
			ty := vars.Type()
			if !ty.IsObjectType() && !ty.IsMapType() {
				return cty.NilVal, function.NewArgErrorf(1, "template variables must be an object or a map")
			}
			if vars.IsNull() || !vars.IsWhollyKnown() {
				return cty.UnknownVal(cty.String), nil
			}
			ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: funcs()}
			for it := vars.ElementIterator(); it.Next(); {
				k, v := it.Element()
				if !hclsyntax.ValidIdentifier(k.AsString()) {
					return cty.NilVal, function.NewArgErrorf(1, "template variable %q is not a valid identifier", k.AsString())
				}
				ctx.Variables[k.AsString()] = v
			}
			for _, tr := range expr.Variables() {
				if _, ok := ctx.Variables[tr.RootName()]; !ok {
					return cty.NilVal, function.NewArgErrorf(1, "template %s refers to %q, which is not in the variables given", p, tr.RootName())
				}
			}
			val, diags := expr.Value(ctx)
			if diags.HasErrors() {
				return cty.NilVal, templateError("rendering", p, diags)
			}
			val, err = convertToString(val)
			if err != nil {
				return cty.NilVal, fmt.Errorf("rendering template %s: %w", p, err)
			}
			return val, nil
		},
	})
}
