package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/compiler"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/lang/dockerfile"
	"github.com/imgc-dev/imgc/stdlib"
)

type convertCmd struct {
	Dockerfile string   `arg:"" help:"The Dockerfile to convert."`
	Output     string   `short:"o" placeholder:"FILE" help:"Write the configuration here (default: standard output)."`
	Check      bool     `help:"Also compile the Dockerfile and the converted configuration and check that every layer gets the same cache key."`
	Var        []string `sep:"none" placeholder:"NAME=VALUE" help:"ARG values for --check (repeatable)."`
	Context    string   `placeholder:"DIR" help:"The build context for --check: copy sources are then listed and hashed into the keys compared (default: none; the keys compared see the configuration alone)."`
}

func (c *convertCmd) Run(e *env) error {
	src, rdiags := lang.ReadSource(c.Dockerfile, "Dockerfile")
	if rdiags.HasErrors() {
		return e.report(nil, rdiags)
	}
	files := map[string]*hcl.File{c.Dockerfile: {Bytes: src}}
	out, diags := dockerfile.Convert(c.Dockerfile, src, dockerfile.ConvertOptions{})
	if err := e.report(files, diags); err != nil {
		return err
	}
	if c.Output == "" {
		_, err := e.stdout.Write(out)
		if err != nil || !c.Check {
			return err
		}
	} else if err := writeOutput(c.Output, out); err != nil {
		return fmt.Errorf("writing %s: %w", c.Output, err)
	}
	if !c.Check {
		return nil
	}
	return c.check(e, src, out)
}

// check compiles both forms and compares their layer keys: the proof that
// the conversion builds the same image. Without --context it reads no
// build context and no base (compiler.Options.ConfigOnly): the keys then
// see every step as written, and copy sources by their patterns.
func (c *convertCmd) check(e *env, dockerSrc, hclSrc []byte) error {
	ctxDir, _ := filepath.Abs(filepath.Dir(c.Dockerfile))
	opts := compiler.Options{Optimize: "none", ConfigOnly: true}
	if c.Context != "" {
		abs, err := filepath.Abs(c.Context)
		if err != nil {
			return fmt.Errorf("finding the build context: %w", err)
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return e.report(nil, hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Build context not found",
				Detail:   fmt.Sprintf("--context %s is not a directory. Give the directory docker build would get as its context.", c.Context),
			}})
		}
		ctxDir = abs
		opts = compiler.Options{Optimize: "none", Context: ctxDir}
	}
	var flags []lang.VarSource
	for _, kv := range c.Var {
		v, d := lang.ParseVarFlag(kv)
		if d != nil {
			return e.report(nil, hcl.Diagnostics{d})
		}
		flags = append(flags, v)
	}
	hclPath := c.Output
	if hclPath == "" {
		// Beside the Dockerfile, where -o would put it: a relative base
		// (oci:DIR) or file then means the same to both.
		p, err := writeBeside(filepath.Dir(c.Dockerfile), hclSrc)
		if err != nil {
			return err
		}
		defer os.Remove(p)
		hclPath = p
	}
	k := keyCheck{e: e, file: c.Dockerfile, src: dockerSrc, hclPath: hclPath, ctxDir: ctxDir, opts: opts}
	mismatches, args, err := k.compare(flags, true)
	if err != nil {
		return err
	}
	// Verified for every value, not only the defaults: each ARG the
	// command line leaves alone is set, in turn, to a value of its own.
	given := map[string]bool{}
	for _, f := range flags {
		given[f.Name] = true
	}
	checked, skipped := 0, []string(nil)
	// BuildKit's platform ARGs follow the platform, as the conversion's
	// platform values do: both are compiled for another one instead.
	if len(mismatches) == 0 {
		other := k
		other.platform = "linux/arm64"
		if runtime.GOARCH == "arm64" {
			other.platform = "linux/amd64"
		}
		m, _, err := other.compare(flags, false)
		if err == nil {
			for _, s := range m {
				mismatches = append(mismatches, fmt.Sprintf("for %s: %s", other.platform, s))
			}
		}
	}
	for _, name := range args {
		if given[name] || len(mismatches) > 0 || dockerfile.IsPlatformArg(name) {
			continue
		}
		value := "imgc-check-" + strings.ToLower(name)
		m, _, err := k.compare(append(slices.Clone(flags), lang.VarSource{Kind: lang.VarFlag, Name: name, Value: value}), false)
		if err != nil {
			// The Dockerfile does not build with that value (a FROM, a
			// port): nothing to compare.
			skipped = append(skipped, name)
			continue
		}
		checked++
		for _, s := range m {
			mismatches = append(mismatches, fmt.Sprintf("with %s=%s: %s", name, value, s))
		}
	}
	if len(mismatches) == 0 {
		note := ""
		if checked > 0 {
			note = fmt.Sprintf(", with the defaults and with another value for each of %d %s", checked, plural(checked, "ARG", "ARGs"))
		}
		if len(skipped) > 0 {
			note += fmt.Sprintf(" (%s not varied: the Dockerfile does not build with another value)", strings.Join(skipped, ", "))
		}
		if c.Context == "" {
			note += " (without a build context: copies are compared by their sources as written; give --context to compare the files too)"
		}
		fmt.Fprintf(e.stderr, "convert --check: every layer of the converted configuration has the same cache key as the Dockerfile's%s.\n", note)
		return nil
	}
	for _, m := range mismatches {
		fmt.Fprintf(e.stderr, "convert --check: %s\n", m)
	}
	return exitError{exitFailed}
}

// writeOutput writes the conversion to path, making its directory.
func writeOutput(path string, out []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}

// writeBeside writes the conversion src to a hidden file of its own in
// dir, or in a temporary directory where dir takes no file, and returns
// its path.
func writeBeside(dir string, src []byte) (string, error) {
	// Not *.image.hcl: a build of the directory meanwhile, or after a
	// killed check left it, must not take it for its configuration.
	f, err := os.CreateTemp(dir, ".imgc-convert-check-*.tmp")
	if err != nil {
		if f, err = os.CreateTemp("", "imgc-convert-check-*.tmp"); err != nil {
			return "", err
		}
	}
	_, err = f.Write(src)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// keyCheck compiles a Dockerfile and its conversion with the same values.
type keyCheck struct {
	e       *env
	file    string
	src     []byte
	hclPath string
	ctxDir  string
	opts    compiler.Options
	// platform is the target platform both are compiled for; the host's
	// when empty.
	platform string
}

// compare returns the layers whose keys differ with the values flags give,
// and the Dockerfile's ARGs. report shows the diagnostics of either side;
// otherwise an error of the Dockerfile's side is only returned, and one of
// the conversion's alone is a mismatch.
func (k keyCheck) compare(flags []lang.VarSource, report bool) ([]string, []string, error) {
	fail := func(files map[string]*hcl.File, diags hcl.Diagnostics) error {
		if report {
			return k.e.report(files, errorsOnly(diags))
		}
		if diags.HasErrors() {
			return exitError{exitBadInput}
		}
		return nil
	}
	// Both sides take IMGC_VAR_* as a build does (an ARG of a Dockerfile,
	// a variable of the conversion).
	vars, _, _ := lang.StringVars(append(lang.EnvVars(os.Environ()), flags...))
	dcfg, diags := dockerfile.Import(k.file, k.src, dockerfile.Options{BuildArgs: vars, Dir: k.ctxDir, Platform: k.platform})
	if err := fail(map[string]*hcl.File{k.file: {Bytes: k.src}}, diags); err != nil {
		return nil, nil, err
	}
	dplan, diags := compiler.Compile(dcfg, k.opts)
	if err := fail(nil, diags); err != nil {
		return nil, nil, err
	}
	args := slices.Sorted(maps.Keys(dcfg.Vars))
	hcfg, diags := lang.Load(k.hclPath, lang.Options{Functions: stdlib.Functions(k.ctxDir), Macros: stdlib.Macros(), Vars: append(lang.EnvVars(os.Environ()), flags...), Platform: k.platform})
	if !report && diags.HasErrors() {
		return []string{"the conversion does not load: " + firstErrorSummary(diags)}, args, nil
	}
	if err := fail(nil, diags); err != nil {
		return nil, nil, err
	}
	hplan, diags := compiler.Compile(hcfg, k.opts)
	if !report && diags.HasErrors() {
		return []string{"the conversion does not compile: " + firstErrorSummary(diags)}, args, nil
	}
	if err := fail(nil, diags); err != nil {
		return nil, nil, err
	}
	return compareKeys(dplan, hplan), args, nil
}

func firstErrorSummary(diags hcl.Diagnostics) string {
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			if d.Subject != nil {
				return fmt.Sprintf("%s (%s:%d)", d.Summary, filepath.Base(d.Subject.Filename), d.Subject.Start.Line)
			}
			return d.Summary
		}
	}
	return ""
}

func compareKeys(a, b *ir.Plan) []string {
	// Stage names may differ (an unnamed final stage becomes image "app"),
	// but build order is the same: compare target by target.
	var out []string
	if len(a.Targets) != len(b.Targets) {
		return []string{fmt.Sprintf("the Dockerfile has %d stages to build and the conversion %d", len(a.Targets), len(b.Targets))}
	}
	for i, ta := range a.Targets {
		tb := b.Targets[i]
		if len(ta.Layers) != len(tb.Layers) {
			out = append(out, fmt.Sprintf("stage %q has %d layers in the Dockerfile and %d converted (%q)", ta.Name, len(ta.Layers), len(tb.Layers), tb.Name))
			continue
		}
		for j := range ta.Layers {
			if ta.Layers[j].Key != tb.Layers[j].Key {
				out = append(out, fmt.Sprintf("stage %q layer %d (%s): key %s differs from %s (%s)", ta.Name, j+1, ta.Layers[j].Origin, ta.Layers[j].Key.Short(), tb.Layers[j].Key.Short(), ir.MissReason(ta.Layers[j], tb.Layers[j], false)))
				break
			}
		}
	}
	return out
}
