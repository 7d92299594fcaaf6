package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/imgc-dev/imgc/model"
	"github.com/imgc-dev/imgc/stdlib"
)

// FileSuffix names the files a directory configuration consists of.
const FileSuffix = ".image.hcl"

// Options are the inputs of Load besides the configuration itself.
type Options struct {
	// Functions callable from expressions. Nil means
	// stdlib.Functions(configuration directory).
	Functions map[string]function.Function
	// Macros are the step macro block types. Nil means stdlib.Macros();
	// an empty non-nil slice means none.
	Macros []stdlib.Macro
	// Vars are the sources of variable values, lowest precedence first
	// (VarSources lists them as the CLI takes them); a later value wins
	// over a variable's default and over earlier values.
	Vars []VarSource
	// Platform is the target platform "os/arch[/variant]" the
	// configuration is evaluated for (the `platform` value); "" means the
	// host's. BuildPlatform is the platform imgc runs on; "" means the
	// host's.
	Platform, BuildPlatform string
	// ValuesOptional leaves a variable that has neither a default nor a
	// value unknown instead of reporting it (validate checks the
	// configuration alone, as terraform validate does): what uses it is
	// checked for everything its value does not decide.
	ValuesOptional bool
}

// EnvVarPrefix prefixes environment variables that set variables.
const EnvVarPrefix = "IMGC_VAR_"

// Load parses, decodes and evaluates the configuration at path: a
// *.image.hcl file or a directory holding them. It reports every error it
// finds; on error the returned Config is partial but never nil, and its
// Files let the caller render the diagnostics with source snippets. A
// partial Config leaves out every step with an error and stands scratch
// for a base it reported, and it has passed model.Check, so that
// compiling it adds only the errors the compiler alone finds, such as
// missing copy sources.
func Load(path string, opts Options) (*model.Config, hcl.Diagnostics) {
	cfg := &model.Config{Files: map[string]*hcl.File{}, Vars: map[string]string{}, Sensitive: map[string]string{}}
	parser := hclparse.NewParser()
	defer func() {
		for name, f := range parser.Files() {
			cfg.Files[name] = f
		}
	}()

	files, dir, diags := configFiles(path)
	cfg.Dir = dir
	if diags.HasErrors() {
		return cfg, diags
	}
	var parsed []*hcl.File
	for _, name := range files {
		f, fdiags := ParseFile(parser, name, "Configuration file")
		diags = append(diags, fdiags...)
		if f != nil && parser.Files()[name] == nil {
			cfg.Files[name] = f // refused before parsing: kept for its snippet
		}
		parsed = append(parsed, f)
	}
	if diags.HasErrors() {
		// Decoding the rest would report names declared in a broken file
		// as undeclared: the syntax errors are the ones worth reading.
		return cfg, diags
	}

	funcs := opts.Functions
	if funcs == nil {
		funcs = stdlib.Functions(dir)
	}
	macros := opts.Macros
	if macros == nil {
		macros = stdlib.Macros()
	}

	l := newLoader(funcs, macros)
	l.platform = platformValue(opts.Platform, opts.BuildPlatform)
	l.diags = diags
	l.parser, l.srcDir, l.stdFuncs = parser, dir, opts.Functions == nil
	mod := l.decodeModule(parsed)
	l.loadModules(mod, []string{dir})
	// A configuration of step definitions alone is a library for
	// modules: validate checks it, as terraform validate checks a module
	// without resources; building it builds nothing, an error.
	if len(mod.stages) == 0 && !l.diags.HasErrors() && !(opts.ValuesOptional && len(mod.defs) > 0) {
		d := noImages(path, files)
		if len(mod.modules) > 0 {
			m := mod.modules[0]
			d.Detail = fmt.Sprintf("The configuration %s declares no image block of its own, so there is nothing to build: a module's images are stages to build on, never built or tagged by themselves. Build on each with an image block, such as image %q { from = module.%s.image.NAME, tags = [...] }.", describeDir(path), m.Name, m.Name)
			d.Subject = m.DeclRange.Ptr()
		}
		l.add(d)
	}
	l.checkReferences(mod)
	l.checkStepDefs(mod)
	vals := l.variableValues(mod, parser, opts)
	l.validateVariables(mod, vals)
	for _, v := range mod.variables {
		if val, ok := vals[v.Name]; ok && val.IsWhollyKnown() {
			cfg.Vars[v.Name] = renderValue(val, v.Sensitive)
			if v.Sensitive {
				sensitiveValues(v.Name, val, cfg.Sensitive)
			}
		}
	}
	l.evaluateLocals(mod, vals)
	l.evaluateModules(mod, cfg)
	for _, s := range mod.stages {
		if st := l.evaluateStage(mod, s); st != nil {
			chainEnv(st)
			cfg.Stages = append(cfg.Stages, st)
		}
	}
	l.checkUncalledDefs(mod)
	for k, v := range l.sensitive {
		cfg.Sensitive[k] = v
	}
	for _, d := range model.Check(cfg) {
		l.add(d)
	}
	return cfg, l.diags
}

// noImages reports a configuration without image or stage blocks: building
// it would succeed without building anything.
func noImages(path string, files []string) *hcl.Diagnostic {
	d := &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "No images",
		Detail:   fmt.Sprintf("The configuration %s declares no image or stage block, so there is nothing to build. Add an image block, such as image \"app\" { from = \"alpine:3.20\" } on lines of its own.", describeDir(path)),
	}
	if len(files) == 1 {
		d.Subject = &hcl.Range{Filename: files[0], Start: hcl.InitialPos, End: hcl.InitialPos}
	}
	return d
}

// configFiles lists the files of the configuration at path and its
// directory.
func configFiles(path string) ([]string, string, hcl.Diagnostics) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, "", hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid configuration path",
			Detail:   fmt.Sprintf("The path %q cannot be made absolute: %s.", path, err),
		}}
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, "", hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Configuration not found",
			Detail:   fmt.Sprintf("Reading %s: %s. Give the path of a *%s file or of a directory holding them.", path, err, FileSuffix),
		}}
	}
	if !fi.IsDir() {
		return []string{abs}, filepath.Dir(abs), nil
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return nil, abs, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Unreadable configuration directory",
			Detail:   fmt.Sprintf("Listing %s: %s.", path, err),
		}}
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), FileSuffix) {
			files = append(files, filepath.Join(abs, e.Name()))
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, abs, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "No configuration files",
			Detail:   fmt.Sprintf("The directory %s holds no *%s files. Create one, or give the path of a configuration file.", path, FileSuffix),
		}}
	}
	return files, abs, nil
}

// syntaxIndex finds the native-syntax block behind an hcl.Block, for its
// full range and its expressions (also inside dynamic blocks).
type syntaxIndex map[rangeKey]*hclsyntax.Block

type rangeKey struct {
	file string
	byte int
}

func keyOf(r hcl.Range) rangeKey { return rangeKey{r.Filename, r.Start.Byte} }

func (ix syntaxIndex) add(body *hclsyntax.Body) {
	for _, b := range body.Blocks {
		ix[keyOf(b.DefRange())] = b
		ix.add(b.Body)
	}
}

// block returns the syntax block whose header is at r, or nil.
func (ix syntaxIndex) block(r hcl.Range) *hclsyntax.Block { return ix[keyOf(r)] }

// describeDir names a configuration's directory in a sentence: "in the
// current directory" reads better than "." does.
func describeDir(path string) string {
	if path == "." || path == "" {
		return "in the current directory"
	}
	return path
}
