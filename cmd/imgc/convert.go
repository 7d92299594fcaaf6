package main

import (
	"fmt"
	"os"
	"path/filepath"

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
	} else if err := os.WriteFile(c.Output, out, 0o644); err != nil {
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
	vars, _, _ := lang.StringVars(flags)
	dcfg, diags := dockerfile.Import(c.Dockerfile, dockerSrc, dockerfile.Options{BuildArgs: vars, Dir: ctxDir})
	if err := e.report(map[string]*hcl.File{c.Dockerfile: {Bytes: dockerSrc}}, errorsOnly(diags)); err != nil {
		return err
	}
	hclPath := c.Output
	if hclPath == "" {
		tmp, err := os.MkdirTemp("", "imgc-convert-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		hclPath = filepath.Join(tmp, "converted.image.hcl")
		if err := os.WriteFile(hclPath, hclSrc, 0o644); err != nil {
			return err
		}
	}
	hcfg, diags := lang.Load(hclPath, lang.Options{Functions: stdlib.Functions(ctxDir), Macros: stdlib.Macros(), Vars: append(lang.EnvVars(os.Environ()), flags...)})
	if err := e.report(nil, errorsOnly(diags)); err != nil {
		return err
	}
	dplan, diags := compiler.Compile(dcfg, opts)
	if err := e.report(nil, errorsOnly(diags)); err != nil {
		return err
	}
	hplan, diags := compiler.Compile(hcfg, opts)
	if err := e.report(nil, errorsOnly(diags)); err != nil {
		return err
	}
	mismatches := compareKeys(dplan, hplan)
	if len(mismatches) == 0 {
		note := ""
		if c.Context == "" {
			note = " (without a build context: copies are compared by their sources as written; give --context to compare the files too)"
		}
		fmt.Fprintf(e.stderr, "convert --check: every layer of the converted configuration has the same cache key as the Dockerfile's%s.\n", note)
		return nil
	}
	for _, m := range mismatches {
		fmt.Fprintf(e.stderr, "convert --check: %s\n", m)
	}
	return exitError{exitFailed}
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
