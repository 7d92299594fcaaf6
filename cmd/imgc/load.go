package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/imgc-dev/imgc/compiler"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/lang/dockerfile"
	"github.com/imgc-dev/imgc/model"
	"github.com/imgc-dev/imgc/stdlib"
	"github.com/imgc-dev/imgc/store"
)

// configFlags select and parameterise a configuration; build, plan and
// validate share them.
type configFlags struct {
	Path     string   `arg:"" optional:"" help:"A .image.hcl file, a directory of them, or a Dockerfile (default: the current directory)."`
	File     string   `short:"f" placeholder:"DOCKERFILE" help:"Build this Dockerfile (like docker build -f); PATH is then the context."`
	Var      []string `sep:"none" placeholder:"NAME=VALUE" help:"Set a variable (repeatable). For Dockerfiles, sets an ARG."`
	BuildArg []string `sep:"none" name:"build-arg" placeholder:"NAME=VALUE" help:"Docker's name for --var."`
	VarFile  []string `sep:"none" placeholder:"FILE" help:"Read variable values from an HCL file of NAME = value lines (repeatable)."`
	Context  string   `placeholder:"DIR" help:"The build context for copy sources (default: the configuration's directory)."`
	Platform string   `placeholder:"OS/ARCH" help:"The platforms to build for, comma-separated (linux/amd64,linux/arm64); several make an image index. Default: the image's platforms, else the host's."`

	// target is the platform load and compile work for (one of
	// Platform's); zero is the host's.
	target ir.Platform
}

// source is a loaded configuration and where it came from.
type source struct {
	cfg        *model.Config
	dir        string // the configuration's directory: lock file, default context
	dockerfile bool
	// ignoreFile is a Dockerfile's own DOCKERFILE.dockerignore, which wins
	// over the context's ignore files as in BuildKit.
	ignoreFile string
	files      map[string]*hcl.File
	// platform is the target platform it was loaded for.
	platform ir.Platform
}

func (f *configFlags) vars() (map[string]string, hcl.Diagnostics) {
	vars := map[string]string{}
	var diags hcl.Diagnostics
	for _, kv := range append(append([]string(nil), f.Var...), f.BuildArg...) {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid --var value",
				Detail:   fmt.Sprintf("The value %q has no \"=\". Write --var NAME=VALUE.", kv),
			})
			continue
		}
		vars[name] = value
	}
	return vars, diags
}

// isDockerfile tells a Dockerfile by its name, as the contract says.
func isDockerfile(path string) bool {
	base := filepath.Base(path)
	lower := strings.ToLower(base)
	return base == "Dockerfile" || base == "Containerfile" ||
		strings.HasSuffix(lower, ".dockerfile") || strings.HasSuffix(lower, ".containerfile")
}

// load reads the configuration the flags name. target narrows a Dockerfile
// import to one stage and what it needs.
// store, when set, lets a Dockerfile import read the ONBUILD triggers of
// its local bases (and of registry bases when remote is set).
func (e *env) load(f *configFlags, targets []string, store *store.Store, remote bool) (*source, hcl.Diagnostics) {
	path := f.Path
	if path == "" {
		path = "."
	}
	vars, diags := f.vars()
	if diags.HasErrors() {
		return nil, diags
	}
	if _, err := os.Stat(path); err != nil {
		return nil, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Configuration not found",
			Detail:   fmt.Sprintf("%s does not exist. Give a .image.hcl file, a directory of them, or a Dockerfile.", path),
		})
	}
	dockerfilePath := f.File
	if dockerfilePath == "" && isDockerfile(path) {
		dockerfilePath = path
	}
	if dockerfilePath == "" {
		if st, err := os.Stat(path); err == nil && st.IsDir() && !hasImageHCL(path) {
			for _, name := range []string{"Dockerfile", "Containerfile"} {
				if _, err := os.Stat(filepath.Join(path, name)); err == nil {
					dockerfilePath = filepath.Join(path, name)
					break
				}
			}
		}
	}
	if dockerfilePath != "" {
		args, fromEnv, diags := f.dockerfileArgs(vars)
		if diags.HasErrors() {
			return &source{files: map[string]*hcl.File{}}, diags
		}
		src, idiags := e.loadDockerfile(f, dockerfilePath, args, fromEnv, targets, store, remote)
		if src != nil {
			src.platform = f.platform()
		}
		return src, append(diags, idiags...)
	}

	dir := path
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		dir = filepath.Dir(path)
	}
	absDir, _ := filepath.Abs(dir)
	cfg, diags := lang.Load(path, lang.Options{
		Functions: stdlib.Functions(absDir),
		Macros:    stdlib.Macros(),
		Vars:      vars,
		VarFiles:  f.VarFile,
		Environ:   os.Environ(),
		Platform:  f.platform().String(),
	})
	src := &source{cfg: cfg, dir: absDir, platform: f.platform()}
	if cfg != nil {
		src.files = cfg.Files
	}
	return src, diags
}

func (e *env) loadDockerfile(f *configFlags, path string, vars map[string]string, ambient map[string]bool, targets []string, store *store.Store, remote bool) (*source, hcl.Diagnostics) {
	data, diags := lang.ReadSource(path, "Dockerfile")
	if diags.HasErrors() {
		return nil, diags
	}
	// docker build's context is the PATH argument; with -f and no PATH, the
	// current directory; otherwise the Dockerfile's directory.
	ctxDir := filepath.Dir(path)
	if f.File != "" {
		ctxDir = f.Path
		if ctxDir == "" {
			ctxDir = "."
		}
	}
	absCtx, _ := filepath.Abs(ctxDir)
	target := ""
	if len(targets) > 0 {
		target = targets[len(targets)-1]
	}
	opts := dockerfile.Options{BuildArgs: vars, Ambient: ambient, Target: target, Dir: absCtx, Platform: f.platform().String()}
	if store != nil {
		opts.BaseOnBuild = func(ref imageref.Ref) ([]string, error) {
			return imageio.BaseOnBuild(e.ctx, ref, absCtx, f.platform(), remote)
		}
	}
	cfg, diags := dockerfile.Import(path, data, opts)
	src := &source{cfg: cfg, dir: absCtx, dockerfile: true, files: map[string]*hcl.File{path: {Bytes: data}}}
	if _, err := os.Stat(path + ".dockerignore"); err == nil {
		src.ignoreFile, _ = filepath.Abs(path + ".dockerignore")
	}
	if cfg != nil && cfg.Files != nil {
		src.files = cfg.Files
	}
	return src, diags
}

// dockerfileArgs gathers a Dockerfile's ARG values from the same sources an
// .image.hcl configuration's variables come from, lowest precedence first:
// IMGC_VAR_NAME, --var-file, then --var.
// fromEnv names the values that came only from the environment.
func (f *configFlags) dockerfileArgs(vars map[string]string) (args map[string]string, fromEnv map[string]bool, diags hcl.Diagnostics) {
	args, fromEnv = map[string]string{}, map[string]bool{}
	for _, kv := range os.Environ() {
		if name, value, ok := strings.Cut(kv, "="); ok {
			if n, ok := strings.CutPrefix(name, lang.EnvVarPrefix); ok && n != "" {
				args[n] = value
				fromEnv[n] = true
			}
		}
	}
	for _, path := range f.VarFile {
		file, fdiags := lang.ParseFile(hclparse.NewParser(), path, "Var file")
		diags = append(diags, fdiags...)
		if fdiags.HasErrors() {
			continue
		}
		attrs, adiags := file.Body.JustAttributes()
		diags = append(diags, adiags...)
		for name, attr := range attrs {
			v, vdiags := attr.Expr.Value(nil)
			diags = append(diags, vdiags...)
			if vdiags.HasErrors() {
				continue
			}
			sv, err := convert.Convert(v, cty.String)
			if err != nil || sv.IsNull() {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid ARG value",
					Detail:   fmt.Sprintf("A Dockerfile ARG is a string, and %s is not one. Write %s = \"VALUE\".", name, name),
					Subject:  attr.Expr.Range().Ptr(),
				})
				continue
			}
			args[name] = sv.AsString()
			delete(fromEnv, name)
		}
	}
	for k, v := range vars {
		args[k] = v
		delete(fromEnv, k)
	}
	return args, fromEnv, diags
}

// platform is the target platform load works for: target, else the host's.
func (f *configFlags) platform() ir.Platform {
	if f.target.OS != "" {
		return f.target
	}
	return hostPlatform()
}

func hasImageHCL(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.image.hcl"))
	return len(m) > 0
}

// optimizeFlags choose the optimizer level; build and plan share them.
type optimizeFlags struct {
	Optimize   string   `placeholder:"safe|all" help:"Optimizer level: safe (default) keeps the layering you wrote; all also merges and reorders steps."`
	NoOptimize bool     `name:"no-optimize" help:"Run only the passes every build needs."`
	Pass       []string `sep:"none" placeholder:"NAME=off" help:"Turn one optimizer pass off (repeatable): ${passes}."`
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

// summaryUnreachable marks the one compile error that is the environment's
// fault, not the configuration's: a build stopped by it exits 1, not 2.
const summaryUnreachable = "Base image unreachable"

// compile lowers a loaded configuration to a plan, resolving local bases
// (and registry tags when resolveRemote is set) for real cache keys.
func (e *env) compile(src *source, targets []string, ctxDir string, opt optimizeFlags, store *store.Store, resolveRemote, repin bool) (*ir.Plan, map[string]string, hcl.Diagnostics) {
	disabled, diags := opt.disabled()
	if diags.HasErrors() {
		return nil, nil, diags
	}
	pins, lockDiags := lang.ReadLock(src.dir)
	diags = append(diags, lockDiags...)
	if ctxDir != "" {
		ctxDir, _ = filepath.Abs(ctxDir)
	}
	opts := compiler.Options{
		Targets:        targets,
		Context:        ctxDir,
		Optimize:       opt.level(),
		DisabledPasses: disabled,
		Pins:           pins,
		// SOURCE_DATE_EPOCH clamps file times in layers: it is key material.
		SourceDateEpoch: os.Getenv("SOURCE_DATE_EPOCH"),
		IgnoreFile:      src.ignoreFile,
		Platform:        src.platform,
	}
	if repin {
		opts.Pins = nil
	}
	var unreachable map[string]error
	if store != nil {
		opts.HashCache = filepath.Join(store.Dir(), "hashcache.json")
		unreachable = map[string]error{}
		opts.Resolve = func(ref imageref.Ref, pl ir.Platform) (string, error) {
			registry := ref.Kind == imageref.Registry
			if registry && !resolveRemote {
				return "", compiler.ErrUnresolved // plan stays offline: registry tags are keyed by tag until pinned
			}
			d, err := imageio.ResolveBase(e.ctx, ref, pl)
			var np *ir.NoPlatformError
			if err != nil && registry && !errors.As(err, &np) {
				// A build cannot go on without it: reported once, as an
				// error, after compiling.
				unreachable[ref.String()] = err
				return "", compiler.ErrUnresolved
			}
			return d, err
		}
	}
	plan, cdiags := compiler.Compile(src.cfg, opts)
	diags = append(diags, cdiags...)
	if plan != nil {
		for _, t := range plan.Targets {
			if err := unreachable[t.Base.Ref.String()]; err != nil && t.Base.Kind == ir.BaseRegistry && t.Base.Digest == "" {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  summaryUnreachable,
					Detail:   fmt.Sprintf("%v. A tag is resolved through its registry the first time it is built; make the registry reachable, or pin the digest in imgc.lock.hcl.", err),
					Subject:  originRange(map[string]*hcl.File{}, t.Base.Origin),
				})
				delete(unreachable, t.Base.Ref.String())
			}
		}
	}
	return plan, pins, diags
}
