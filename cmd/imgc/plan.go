package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/imageio"
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
	// The layers a push left in a registry (mounted from a shared cache)
	// come down when something reads them.
	s.SetBlobFetcher(imageio.FetchRemoteBlob)
	return s, nil
}

type planCmd struct {
	configFlags
	optimizeFlags
	cacheFlags
	builderFlags
	Target           []string `sep:"none" placeholder:"NAME" help:"Plan only this stage or image and what it needs (repeatable)."`
	Tag              []string `short:"t" sep:"none" placeholder:"NAME:TAG" help:"Plan with these tags, as build -t gives them (repeatable); a saved plan keeps them."`
	NoCache          bool     `name:"no-cache" help:"Plan a build --no-cache: every layer rebuilt."`
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
	plats, pdiags := parsePlatforms(c.Platform)
	if pdiags = append(pdiags, checkTags(c.Tag)...); pdiags.HasErrors() {
		return false, e.report(nil, pdiags)
	}
	// A saved plan resolves base tags as the build will, so that the build
	// finds the same keys.
	remote := c.Out != ""
	if c.NoCache && c.Out != "" {
		return false, e.report(nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "--no-cache with -out",
			Detail: "A saved plan fixes what is built, not whether the cache is used. Save the plan without --no-cache, and give --no-cache to imgc build FILE."}})
	}
	src, plans, _, diags := e.loadPlatforms(&c.configFlags, plats, c.Target, c.Tag, c.Context, c.optimizeFlags, store, remote, false)
	if src == nil || src.Config == nil {
		return false, e.report(filesOf(src), diags)
	}
	cacheFrom, _, cdiags := configCaches(src.Config, src.Dir, c.Target, cacheFrom, nil)
	diags = append(diags, cdiags...)
	if err := e.report(src.Files, diags); err != nil {
		return false, err
	}
	// One plan per platform, each with its own keys and reasons; JSON is
	// one document per platform.
	changes := false
	for i, plan := range plans {
		if len(plans) > 1 && c.Format != "json" {
			if i > 0 {
				fmt.Fprintln(e.stdout)
			}
			fmt.Fprintf(e.stdout, "platform %s\n\n", engine.PlatformOf(plan))
		}
		would, err := c.print(e, store, plan, cacheFrom)
		if err != nil {
			return false, err
		}
		changes = changes || would
	}
	if c.Out != "" {
		if err := c.writePlanFile(c.Out, plans); err != nil {
			return false, err
		}
		if c.Format != "json" {
			fmt.Fprintf(e.stdout, "\nSaved the plan to %s. Build exactly it with: imgc build %s\n", c.Out, c.Out)
		}
	}
	return changes, nil
}

// explainerFrom is an engine whose plans consult --cache-from.
type explainerFrom interface {
	ExplainFrom(ctx context.Context, p *ir.Plan, from []engine.CacheImport) (map[ir.CacheKey]ir.Status, []string)
}

// print prints one plan with each layer's cache status, and tells whether
// a build would make any layer.
func (c *planCmd) print(e *env, store *store.Store, plan *ir.Plan, cacheFrom []engine.CacheImport) (bool, error) {
	var status map[ir.CacheKey]ir.Status
	if eng, ok := c.engine(store).(explainerFrom); ok {
		var warnings []string
		status, warnings = eng.ExplainFrom(e.ctx, plan, cacheFrom)
		for _, w := range warnings {
			fmt.Fprintf(e.stderr, "warning: %s\n", w)
		}
	} else {
		status = c.engine(store).Explain(plan)
	}
	if c.NoCache {
		// build --no-cache runs every layer of every target.
		status = map[ir.CacheKey]ir.Status{}
		for _, t := range plan.Targets {
			for _, l := range t.Layers {
				status[l.Key] = ir.Status{Reason: "--no-cache"}
			}
		}
	}
	var err error
	if c.Format == "json" {
		err = ir.PrintJSON(e.stdout, plan, status)
	} else {
		ir.PrintText(e.stdout, plan, status, isTerminal(e.stdout))
	}
	if err != nil {
		return false, err
	}
	would := plan.WouldBuild(status)
	// An image whose layers all hit is still written anew when its config
	// or tags changed since its last build.
	changed := store.ChangedImages(plan)
	for _, t := range plan.Targets {
		what := changed[t.Name]
		if what == "" || !allHit(status, t) {
			continue
		}
		would = true
		if c.Format == "json" {
			continue
		}
		fields, layers := strings.CutSuffix(what, "layers")
		fields = strings.TrimSuffix(fields, "; ")
		switch {
		case !layers:
			fmt.Fprintf(e.stdout, "\nimage %s: its %s changed since its last build: a build writes the image again, running no layer\n", t.Name, what)
		case fields == "":
			fmt.Fprintf(e.stdout, "\nimage %s: its layers are not its last build's (they are all in the cache, from an earlier build): a build writes this image again and points its tags at it, running no layer\n", t.Name)
		default:
			fmt.Fprintf(e.stdout, "\nimage %s: its %s changed since its last build, and its layers are not its last build's (they are all in the cache): a build writes this image again and points its tags at it, running no layer\n", t.Name, fields)
		}
	}
	return would, nil
}

// allHit tells whether every layer of t hits.
func allHit(st map[ir.CacheKey]ir.Status, t *ir.Target) bool {
	for _, l := range t.Layers {
		if s, ok := st[l.Key]; !ok || !s.Hit {
			return false
		}
	}
	return true
}

func filesOf(src *source) map[string]*hcl.File {
	if src == nil {
		return nil
	}
	return src.Files
}

type validateCmd struct {
	JSON bool `name:"json" help:"Print the result as JSON, as terraform validate -json does: valid, error_count, warning_count and the diagnostics with their ranges (for editors and CI)."`
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
	plats, pdiags := parsePlatforms(c.Platform)
	if pdiags.HasErrors() {
		if c.JSON {
			return e.validateJSON(pdiags)
		}
		return e.report(nil, pdiags)
	}
	// Checked for every platform: each is its own load and plan, of the
	// configuration alone (no store: no base is read).
	src, _, _, diags := e.loadPlatforms(&c.configFlags, plats, nil, nil, c.Context, optimizeFlags{configOnly: true}, nil, false, false)
	if c.JSON {
		return e.validateJSON(diags)
	}
	if src == nil || src.Config == nil {
		return e.report(filesOf(src), diags)
	}
	if err := e.report(src.Files, diags); err != nil {
		return err
	}
	images := 0
	for _, st := range src.Config.Stages {
		if st.Kind == model.KindImage {
			images++
		}
	}
	stages := len(src.Config.Stages) - images
	if images+stages == 0 {
		fmt.Fprintln(e.stdout, "Valid: step definitions only, for modules to use (nothing to build).")
		return nil
	}
	fmt.Fprintf(e.stdout, "Valid: %d %s and %d %s.\n", images, plural(images, "image", "images"), stages, plural(stages, "stage", "stages"))
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
