package main

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/alecthomas/kong"
	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/compiler"
	"github.com/imgc-dev/imgc/engine/imageconfig"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/lang/loader"
	"github.com/imgc-dev/imgc/model"
	"github.com/imgc-dev/imgc/store"
)

// configFlags select and parameterise a configuration; build, plan and
// validate share them.
type configFlags struct {
	Path         string   `arg:"" optional:"" help:"A .image.hcl file, a directory of them, or a Dockerfile (default: the current directory)."`
	File         string   `short:"f" placeholder:"DOCKERFILE" help:"Build this Dockerfile (like docker build -f); PATH is then the context."`
	Var          varFlags `placeholder:"NAME=VALUE" help:"Set a variable (repeatable). For Dockerfiles, sets an ARG."`
	BuildArg     varFlags `name:"build-arg" placeholder:"NAME=VALUE" help:"Docker's name for --var."`
	VarFile      varFlags `placeholder:"FILE" help:"Read variable values from an HCL file of NAME = value lines (repeatable). Later --var and --var-file values win over earlier ones, and all of them over imgc.vars.hcl, *.auto.vars.hcl and IMGC_VAR_NAME."`
	Context      string   `placeholder:"DIR" help:"The build context for copy sources (default: the configuration's directory)."`
	BuildContext []string `name:"build-context" sep:"none" placeholder:"NAME=VALUE" help:"A Dockerfile's named context (repeatable), as buildx: FROM NAME and COPY --from=NAME read VALUE, a directory, oci-layout://PATH[:TAG][@DIGEST] or docker-image://REF, instead of an image or stage of that name."`
	Platform     string   `placeholder:"OS/ARCH" help:"The platforms to build for, comma-separated (linux/amd64,linux/arm64); several make an image index. Default: the image's platforms, else the host's."`

	// sources, when set, replace the flags' variable sources: a saved
	// plan's.
	sources []lang.VarSource
	// proxies, when set, are the proxy environment of a build of a saved
	// plan, given on its command line: they win over the plan's.
	proxies []string
	// valuesOptional lets variables go without values (validate).
	valuesOptional bool
	// target is the platform load and compile work for (one of
	// Platform's); zero is the host's.
	target ir.Platform
}

// platform is the target platform load works for: target, else the host's.
func (f *configFlags) platform() ir.Platform {
	if f.target.OS != "" {
		return f.target
	}
	return hostPlatform()
}

// varFlag is one --var, --build-arg or --var-file value, numbered in the
// order the command line gives it: later values win, whichever flag.
type varFlag struct {
	seq   int64
	value string
}

// varFlags are the values of one of those flags.
type varFlags []varFlag

var varSeq atomic.Int64

// Decode takes one value of the flag (kong calls it in command-line order).
func (v *varFlags) Decode(ctx *kong.DecodeContext) error {
	var s string
	if err := ctx.Scan.PopValueInto("value", &s); err != nil {
		return err
	}
	*v = append(*v, varFlag{seq: varSeq.Add(1), value: s})
	return nil
}

// varSources are the command line's variable sources in the order given.
func (f *configFlags) varSources() ([]lang.VarSource, hcl.Diagnostics) {
	if f.sources != nil {
		return f.sources, nil
	}
	type item struct {
		varFlag
		file, buildArg bool
	}
	var items []item
	for _, v := range f.Var {
		items = append(items, item{varFlag: v})
	}
	for _, v := range f.BuildArg {
		items = append(items, item{varFlag: v, buildArg: true})
	}
	for _, v := range f.VarFile {
		items = append(items, item{varFlag: v, file: true})
	}
	slices.SortStableFunc(items, func(a, b item) int { return cmp.Compare(a.seq, b.seq) })
	var out []lang.VarSource
	var diags hcl.Diagnostics
	for _, it := range items {
		if it.file {
			out = append(out, lang.VarSource{Kind: lang.VarFile, Path: it.value})
			continue
		}
		if it.buildArg && !strings.Contains(it.value, "=") {
			// docker build --build-arg NAME: the environment's NAME, or
			// nothing when it is not set.
			v, ok := os.LookupEnv(strings.TrimSpace(it.value))
			if !ok {
				continue
			}
			it.value = strings.TrimSpace(it.value) + "=" + v
		}
		src, d := lang.ParseVarFlag(it.value)
		if d != nil {
			diags = append(diags, d)
			continue
		}
		out = append(out, src)
	}
	return out, diags
}

// proxyEnv is the run steps' proxy environment that --var and --build-arg
// give (HTTP_PROXY=... and the like, engine.BuildOptions.ProxyEnv).
func (f *configFlags) proxyEnv() []string {
	srcs, _ := f.varSources()
	var args []string
	for _, s := range srcs {
		if s.Kind == lang.VarFlag {
			args = append(args, s.Name+"="+s.Value)
		}
	}
	return imageconfig.MergeEnv(model.ProxyEnv(args), f.proxies)
}

// source is a loaded configuration and where it came from.
type source = loader.Source

// load reads the configuration the flags name. targets narrow a
// Dockerfile import to one stage and what it needs. store, when set, lets
// a Dockerfile import read the ONBUILD triggers of its local bases (and of
// registry bases when remote is set).
func (e *env) load(f *configFlags, targets []string, store *store.Store, remote bool) (*source, hcl.Diagnostics) {
	vars, diags := f.varSources()
	if diags.HasErrors() {
		return nil, diags
	}
	if f.File == "-" || f.Path == "-" {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No Dockerfile from standard input",
			Detail: "imgc reads a Dockerfile from a file, whose lines its plans, errors and image history name: save it (cat > Dockerfile) and give -f Dockerfile, with the context as PATH."}}
	}
	opts := loader.Options{Path: f.Path, Dockerfile: f.File, Vars: vars, Environ: os.Environ(), Platform: f.platform().String(), ValuesOptional: f.valuesOptional, BuildContexts: f.BuildContext}
	if len(targets) > 0 {
		opts.Target = targets[len(targets)-1]
	}
	if store != nil {
		opts.BaseOnBuild = func(ref imageref.Ref, contextDir string) ([]string, error) {
			t, err := imageio.BaseOnBuild(e.ctx, ref, contextDir, f.platform(), remote)
			if _, ok := errors.AsType[*ir.NoPlatformError](err); ok {
				// The build reports the missing platform at the FROM
				// line: a warning about triggers would only be noise.
				return nil, nil
			}
			return t, err
		}
	}
	return loader.Load(opts)
}

// optimizeFlags choose the optimizer level; build and plan share them.
type optimizeFlags struct {
	Optimize   string   `placeholder:"safe|all" help:"Optimizer level: safe (default) keeps the layering you wrote; all also merges and reorders steps."`
	NoOptimize bool     `name:"no-optimize" help:"Run only the passes every build needs."`
	Pass       []string `sep:"none" placeholder:"NAME=off" help:"Turn one optimizer pass off (repeatable): ${passes}."`

	// configOnly compiles the configuration alone (validate): no build
	// context is read (compiler.Options.ConfigOnly).
	configOnly bool
}

func (o *optimizeFlags) level() string {
	if o.NoOptimize {
		return "none"
	}
	return o.Optimize
}

func (o *optimizeFlags) disabled() ([]string, hcl.Diagnostics) {
	var names []string
	var diags hcl.Diagnostics
	if o.Optimize != "" && o.Optimize != "safe" && o.Optimize != "all" {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid --optimize value",
			Detail:   fmt.Sprintf("The level %q is not one imgc has. Use --optimize=safe (the default), --optimize=all, or --no-optimize.", o.Optimize),
		})
	}
	for _, p := range o.Pass {
		name, state, ok := strings.Cut(p, "=")
		if !ok || (state != "off" && state != "on") {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid --pass value",
				Detail:   fmt.Sprintf("The value %q is not NAME=off. Write --pass NAME=off to turn a pass off.", p),
			})
			continue
		}
		if state == "off" {
			names = append(names, name)
		}
	}
	return names, diags
}

// compile lowers a loaded configuration to a plan, resolving local bases
// (and registry tags when resolveRemote is set) for real cache keys.
// platform is the target platform (zero: the host's).
func (e *env) compile(src *source, platform ir.Platform, targets, tags []string, ctxDir string, opt optimizeFlags, store *store.Store, resolveRemote, repin bool) (*ir.Plan, map[string]string, hcl.Diagnostics) {
	disabled, diags := opt.disabled()
	if diags.HasErrors() {
		return nil, nil, diags
	}
	pins, lockDiags := lang.ReadLock(src.Dir)
	diags = append(diags, lockDiags...)
	if ctxDir != "" {
		ctxDir, _ = filepath.Abs(ctxDir)
	}
	opts := compiler.Options{
		Targets:        targets,
		Tags:           tags,
		Context:        ctxDir,
		Optimize:       opt.level(),
		DisabledPasses: disabled,
		Pins:           pins,
		// SOURCE_DATE_EPOCH clamps file times in layers: it is key material.
		SourceDateEpoch: src.SourceDateEpoch,
		IgnoreFile:      src.IgnoreFile,
		Platform:        platform,
		ConfigOnly:      opt.configOnly,
	}
	if repin {
		opts.Pins = nil
	}
	if store != nil && !resolveRemote && !repin {
		// A plan asks no registry: a tag the lock file does not pin is
		// taken to name what the last build resolved it to.
		opts.Pins = maps.Clone(pins)
		if opts.Pins == nil {
			opts.Pins = map[string]string{}
		}
		for k, d := range store.Resolved() {
			if _, ok := opts.Pins[k]; !ok {
				opts.Pins[k] = d
			}
		}
	}
	if store != nil {
		opts.HashCache = filepath.Join(store.Dir(), "hashcache")
		// The JSON hash cache of earlier versions, replaced by the
		// directory of binary shards.
		os.Remove(filepath.Join(store.Dir(), "hashcache.json"))
		opts.Resolve = baseResolver{e, resolveRemote}
		if resolveRemote {
			opts.Fetch = sourceFetcher(e, store)
		}
	}
	plan, cdiags := compiler.Compile(src.Config, opts)
	return plan, pins, append(diags, cdiags...)
}

// baseResolver resolves bases for the compiler through image I/O. A plan
// stays offline (remote false): registry tags are keyed by tag until
// pinned.
type baseResolver struct {
	e      *env
	remote bool
}

func (r baseResolver) Resolve(ref imageref.Ref, pl ir.Platform) (string, error) {
	registry := ref.Kind == imageref.Registry
	if registry && !r.remote {
		return "", compiler.ErrUnresolved
	}
	d, err := imageio.ResolveBase(r.e.ctx, ref, pl)
	var np *ir.NoPlatformError
	if err != nil && registry && !errors.As(err, &np) {
		// A build cannot go on without it.
		return "", &compiler.UnreachableError{Ref: ref, Err: sentenceError{"Resolving " + ref.String() + ": " + plainError(err), err}}
	}
	return d, err
}
