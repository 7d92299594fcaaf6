package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// VarKind says where a variable value comes from.
type VarKind int

const (
	// VarEnv is an IMGC_VAR_NAME environment variable. Its name may be
	// undeclared: the environment is shared with other configurations.
	VarEnv VarKind = iota
	// VarFile is a file of NAME = value lines: imgc.vars.hcl,
	// *.auto.vars.hcl, or --var-file.
	VarFile
	// VarFlag is a --var NAME=VALUE (or --build-arg) value.
	VarFlag
)

// VarSource is one source of variable values: an environment variable
// (Name, Value), a var file (Path) or a --var (Name, Value).
type VarSource struct {
	Kind        VarKind
	Name, Value string
	Path        string
}

// Auto-loaded var files, read from the configuration's directory.
const (
	VarFileName       = "imgc.vars.hcl"
	AutoVarFileSuffix = ".auto.vars.hcl"
)

// VarSources lists every source of variable values for the configuration
// in dir, lowest precedence first, as Terraform orders them: the
// environment (IMGC_VAR_NAME), imgc.vars.hcl, the *.auto.vars.hcl files in
// name order, then the command line (--var-file and --var, in the order
// given). Load and the Dockerfile loader apply them in this order, a later
// value winning. This is the one place the precedence is written.
func VarSources(dir string, environ []string, cmdline []VarSource) []VarSource {
	out := EnvVars(environ)
	if dir != "" {
		if fi, err := os.Stat(filepath.Join(dir, VarFileName)); err == nil && fi.Mode().IsRegular() {
			out = append(out, VarSource{Kind: VarFile, Path: filepath.Join(dir, VarFileName)})
		}
		auto, _ := filepath.Glob(filepath.Join(dir, "*"+AutoVarFileSuffix))
		sort.Strings(auto)
		for _, p := range auto {
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				out = append(out, VarSource{Kind: VarFile, Path: p})
			}
		}
	}
	return append(out, cmdline...)
}

// EnvVars are the IMGC_VAR_NAME values of environ, sorted by name.
func EnvVars(environ []string) []VarSource {
	var out []VarSource
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if n, found := strings.CutPrefix(name, EnvVarPrefix); ok && found && n != "" {
			out = append(out, VarSource{Kind: VarEnv, Name: n, Value: value})
		}
	}
	slices.SortStableFunc(out, func(a, b VarSource) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// FlagVars are --var values given as a map, in name order (tests, and
// callers with no order to keep).
func FlagVars(vars map[string]string) []VarSource {
	var out []VarSource
	for _, name := range sortedKeys(vars) {
		out = append(out, VarSource{Kind: VarFlag, Name: name, Value: vars[name]})
	}
	return out
}

// ParseVarFlag reads a --var NAME=VALUE value.
func ParseVarFlag(kv string) (VarSource, *hcl.Diagnostic) {
	name, value, ok := strings.Cut(kv, "=")
	if !ok || name == "" {
		return VarSource{}, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid --var value",
			Detail:   fmt.Sprintf("The value %q has no \"=\". Write --var NAME=VALUE.", kv),
		}
	}
	return VarSource{Kind: VarFlag, Name: name, Value: value}, nil
}

// String names the source in diagnostics.
func (s VarSource) String() string {
	switch s.Kind {
	case VarEnv:
		return "the environment variable " + EnvVarPrefix + s.Name
	case VarFile:
		return "the var file " + s.Path
	}
	return "--var"
}

// StringVars applies sources, in order, as plain strings: a Dockerfile's
// ARG values. fromEnv names the values that came only from the
// environment (BuildKit leaves those out of the history).
func StringVars(sources []VarSource) (vars map[string]string, fromEnv map[string]bool, diags hcl.Diagnostics) {
	vars, fromEnv = map[string]string{}, map[string]bool{}
	parser := hclparse.NewParser()
	for _, src := range sources {
		switch src.Kind {
		case VarEnv:
			vars[src.Name] = src.Value
			fromEnv[src.Name] = true
		case VarFlag:
			vars[src.Name] = src.Value
			delete(fromEnv, src.Name)
		case VarFile:
			fdiags := stringFileVars(parser, src.Path, vars, fromEnv)
			diags = append(diags, fdiags...)
		}
	}
	return vars, fromEnv, diags
}

// stringFileVars adds the values of the var file at path to vars.
func stringFileVars(parser *hclparse.Parser, path string, vars map[string]string, fromEnv map[string]bool) hcl.Diagnostics {
	file, diags := ParseFile(parser, path, "Var file")
	if diags.HasErrors() {
		return diags
	}
	attrs, adiags := file.Body.JustAttributes()
	diags = append(diags, adiags...)
	names := sortedKeys(attrs)
	sort.SliceStable(names, func(i, j int) bool {
		return attrs[names[i]].Range.Start.Byte < attrs[names[j]].Range.Start.Byte
	})
	for _, name := range names {
		attr := attrs[name]
		v, vdiags := attr.Expr.Value(nil)
		diags = append(diags, vdiags...)
		if vdiags.HasErrors() {
			continue
		}
		sv, err := convert.Convert(v, cty.String)
		if err != nil || sv.IsNull() || !sv.IsKnown() {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid ARG value",
				Detail:   fmt.Sprintf("A Dockerfile ARG is a string, and %s is not one. Write %s = \"VALUE\".", name, name),
				Subject:  attr.Expr.Range().Ptr(),
			})
			continue
		}
		vars[name] = sv.AsString()
		delete(fromEnv, name)
	}
	return diags
}
