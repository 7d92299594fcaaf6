package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/engine"
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
	Target []string `sep:"none" placeholder:"NAME" help:"Plan only this stage or image and what it needs (repeatable)."`
	Format string   `enum:"text,json" default:"text" help:"Output format: text or json."`
}

func (c *planCmd) Run(e *env) error {
	if _, diags := c.disabled(); diags.HasErrors() {
		return e.report(nil, diags)
	}
	plats, pdiags := parsePlatforms(c.Platform)
	if pdiags.HasErrors() {
		return e.report(nil, pdiags)
	}
	store, err := c.open()
	if err != nil {
		return err
	}
	src, plans, _, diags := e.loadPlatforms(&c.configFlags, plats, c.Target, c.Context, c.optimizeFlags, store, false, false)
	if src == nil || src.cfg == nil {
		return e.report(filesOf(src), diags)
	}
	if err := e.report(src.files, diags); err != nil {
		return err
	}
	// One plan per platform, each with its own keys and reasons; JSON is
	// one document per platform.
	for i, plan := range plans {
		if len(plans) > 1 && c.Format != "json" {
			if i > 0 {
				fmt.Fprintln(e.stdout)
			}
			fmt.Fprintf(e.stdout, "platform %s\n\n", engine.PlatformOf(plan))
		}
		if err := c.print(e, store, plan); err != nil {
			return err
		}
	}
	return nil
}

func (c *planCmd) print(e *env, store *store.Store, plan *ir.Plan) error {
	status := local.New(store).Explain(plan)
	if c.Format == "json" {
		return ir.PrintJSON(e.stdout, plan, status)
	}
	ir.PrintText(e.stdout, plan, status, isTerminal(e.stdout))
	return nil
}

func filesOf(src *source) map[string]*hcl.File {
	if src == nil {
		return nil
	}
	return src.files
}

type validateCmd struct {
	configFlags
	cacheFlags
}

func (c *validateCmd) Run(e *env) error {
	// The store only reads local bases here (oci: layouts, docker-archive:
	// files), so a missing one is an error now rather than at build time.
	plats, pdiags := parsePlatforms(c.Platform)
	if pdiags.HasErrors() {
		return e.report(nil, pdiags)
	}
	store, err := c.open()
	if err != nil {
		return err
	}
	// Checked for every platform: each is its own load and plan.
	src, _, _, diags := e.loadPlatforms(&c.configFlags, plats, nil, c.Context, optimizeFlags{}, store, false, false)
	if src == nil || src.cfg == nil {
		return e.report(filesOf(src), diags)
	}
	if err := e.report(src.files, diags); err != nil {
		return err
	}
	images := 0
	for _, st := range src.cfg.Stages {
		if st.Kind == model.KindImage {
			images++
		}
	}
	stages := len(src.cfg.Stages) - images
	fmt.Fprintf(e.stdout, "Valid: %d %s and %d %s.\n", images, plural(images, "image", "images"), stages, plural(stages, "stage", "stages"))
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
