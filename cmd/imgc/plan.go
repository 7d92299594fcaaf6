package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/compiler"
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/model"
	"github.com/imgc-dev/imgc/store"
)

// cacheFlags locate the cache directory.
type cacheFlags struct {
	CacheDir string `name:"cache-dir" placeholder:"DIR" help:"The cache directory (default: $IMGC_CACHE_DIR, else $XDG_CACHE_HOME/imgc, else ~/.cache/imgc)."`
}

func (c *cacheFlags) dir() string {
	if c.CacheDir != "" {
		return c.CacheDir
	}
	if d := os.Getenv("IMGC_CACHE_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "imgc")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".cache", "imgc")
	}
	return filepath.Join(os.TempDir(), "imgc-cache")
}

func (c *cacheFlags) open() (*store.Store, error) {
	s, err := store.Open(c.dir())
	if err != nil {
		return nil, fmt.Errorf("opening the cache: %w", err)
	}
	// IMGC_MAX_UNPACK bounds what unpacking a base image may write (see
	// docs/build.md).
	u, err := store.ParseUnpackLimits(os.Getenv("IMGC_MAX_UNPACK"))
	if err != nil {
		return nil, fmt.Errorf("reading IMGC_MAX_UNPACK: %w", err)
	}
	s.SetUnpackLimits(u)
	return s, nil
}

type planCmd struct {
	configFlags
	optimizeFlags
	cacheFlags
	builderFlags
	Target           []string `sep:"none" placeholder:"NAME" help:"Plan only this stage or image and what it needs (repeatable)."`
	Format           string   `enum:"text,json" default:"text" help:"Output format: text or json."`
	DetailedExitcode bool     `name:"detailed-exitcode" help:"Exit 0 when nothing would be built, 2 when something would, 1 on an error (Terraform's -detailed-exitcode; one dash works too)."`
	Out              string   `placeholder:"FILE" help:"Save the plan to FILE; imgc build FILE then builds exactly it, or refuses when an input moved since (-out works too). Resolves base tags through their registries, as build does."`
	cacheFromFlag
}

func (c *planCmd) Run(e *env) error {
	changes, err := c.run(e)
	switch {
	case !c.DetailedExitcode:
		return err
	case err != nil:
		// -detailed-exitcode: every error is 1, as in Terraform.
		var ee exitError
		if !errors.As(err, &ee) {
			fmt.Fprintf(e.stderr, "imgc: %v\n", err)
		}
		return exitError{exitFailed}
	case changes:
		return exitError{exitChanges}
	}
	return nil
}

// exitChanges is plan -detailed-exitcode's status when something would be
// built.
const exitChanges = 2

// run plans, and tells whether a build would make any layer.
func (c *planCmd) run(e *env) (bool, error) {
	if _, diags := c.disabled(); diags.HasErrors() {
		return false, e.report(nil, diags)
	}
	cacheFrom, idiags := c.imports()
	if idiags.HasErrors() {
		return false, e.report(nil, idiags)
	}
	store, err := c.open()
	if err != nil {
		return false, err
	}
	src, diags := e.load(&c.configFlags, c.Target, store, false)
	if src == nil || src.Config == nil {
		return false, e.report(filesOf(src), diags)
	}
	// A saved plan resolves base tags as the build will, so that the build
	// finds the same keys.
	remote := c.Out != ""
	plan, _, cdiags := e.compile(src, c.Target, nil, c.Context, c.optimizeFlags, store, remote, false)
	diags = append(diags, cdiags...)
	if err := e.report(src.Files, diags); err != nil {
		return false, err
	}
	var status map[ir.CacheKey]ir.Status
	if eng, ok := c.engine(store).(*local.Engine); ok {
		var warnings []string
		status, warnings = eng.ExplainFrom(e.ctx, plan, cacheFrom)
		for _, w := range warnings {
			fmt.Fprintf(e.stderr, "warning: %s\n", w)
		}
	} else {
		status = c.engine(store).Explain(plan)
	}
	if c.Format == "json" {
		err = ir.PrintJSON(e.stdout, plan, status)
	} else {
		ir.PrintText(e.stdout, plan, status, isTerminal(e.stdout))
	}
	if err != nil {
		return false, err
	}
	if c.Out != "" {
		if err := c.writePlanFile(c.Out, plan); err != nil {
			return false, err
		}
		if c.Format != "json" {
			fmt.Fprintf(e.stdout, "\nSaved the plan to %s. Build exactly it with: imgc build %s\n", c.Out, c.Out)
		}
	}
	return plan.WouldBuild(status), nil
}

func filesOf(src *source) map[string]*hcl.File {
	if src == nil {
		return nil
	}
	return src.Files
}

type validateCmd struct {
	configFlags
	// Accepted for the scripts that pass them; validate reads no cache.
	cacheFlags
}

// Run checks the configuration alone, as terraform validate does: no
// variable needs a value, and neither the build context nor any base is
// read. Missing copy sources, local bases and values are plan's and
// build's errors.
func (c *validateCmd) Run(e *env) error {
	c.valuesOptional = true
	src, diags := e.load(&c.configFlags, nil, nil, false)
	if src == nil || src.Config == nil {
		return e.report(filesOf(src), diags)
	}
	_, cdiags := compiler.Compile(src.Config, compiler.Options{ConfigOnly: true})
	if err := e.report(src.Files, append(diags, cdiags...)); err != nil {
		return err
	}
	images := 0
	for _, st := range src.Config.Stages {
		if st.Kind == model.KindImage {
			images++
		}
	}
	stages := len(src.Config.Stages) - images
	fmt.Fprintf(e.stdout, "Valid: %d %s and %d %s.\n", images, plural(images, "image", "images"), stages, plural(stages, "stage", "stages"))
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
