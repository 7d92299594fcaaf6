// Package loader is the front-end loader: it finds the configuration a
// command names (an .image.hcl file, a directory of them, or a
// Dockerfile), gathers the values of its variables from every source in
// one precedence for both languages (lang.VarSources), and runs the front
// end that reads it. What it returns has passed model.Check; the CLI
// compiles it.
package loader

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/lang/dockerfile"
	"github.com/imgc-dev/imgc/model"
)

// Options say what to load.
type Options struct {
	// Path is a .image.hcl file, a directory of them, or a Dockerfile;
	// "" is the current directory.
	Path string
	// Dockerfile is docker build's -f: Path is then the build context.
	Dockerfile string
	// Vars are the command line's variable sources (--var, --build-arg,
	// --var-file) in the order given.
	Vars []lang.VarSource
	// Environ is the process environment, read for IMGC_VAR_NAME.
	Environ []string
	// Target narrows a Dockerfile import to one stage and what it needs.
	Target string
	// Platform is the target platform: a Dockerfile's TARGETPLATFORM, an
	// .image.hcl configuration's `platform` value; the host's when empty.
	Platform string
	// BaseOnBuild, if set, returns the ONBUILD triggers of a Dockerfile's
	// base image from outside it, given the build context.
	BaseOnBuild func(ref imageref.Ref, contextDir string) ([]string, error)
	// ValuesOptional leaves an .image.hcl variable without a default or
	// a value unknown rather than an error (lang.Options.ValuesOptional),
	// and lets a Dockerfile's FROM go without the ARG value it needs
	// (dockerfile.Options.ValuesOptional): validate checks the
	// configuration alone.
	ValuesOptional bool
	// BuildContexts are a Dockerfile's named contexts, each
	// --build-context NAME=VALUE as given.
	BuildContexts []string
}

// Source is a loaded configuration and where it came from.
type Source struct {
	Config *model.Config
	// Dir is the configuration's directory (the lock file's, and the
	// default build context); a Dockerfile's build context.
	Dir        string
	Dockerfile bool
	// IgnoreFile is a Dockerfile's own DOCKERFILE.dockerignore, which
	// wins over the context's ignore files as in BuildKit.
	IgnoreFile string
	// Files are the source files read, for diagnostics' snippets.
	Files map[string]*hcl.File
	// Vars are the variable sources applied, lowest precedence first.
	Vars []lang.VarSource
	// SourceDateEpoch is the build's SOURCE_DATE_EPOCH (seconds, as
	// written; "" for none): a Dockerfile's build argument of that name,
	// else the environment's, as with buildx and BuildKit.
	SourceDateEpoch string
}

// sourceDateEpoch is the environment's SOURCE_DATE_EPOCH.
func sourceDateEpoch(environ []string) string {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "SOURCE_DATE_EPOCH="); ok {
			return v
		}
	}
	return ""
}

// IsDockerfile tells a Dockerfile by its name, as the contract says.
func IsDockerfile(path string) bool {
	base := filepath.Base(path)
	lower := strings.ToLower(base)
	return base == "Dockerfile" || base == "Containerfile" ||
		strings.HasSuffix(lower, ".dockerfile") || strings.HasSuffix(lower, ".containerfile")
}

// Load reads the configuration opts names. The Source is nil only when
// nothing could be read; its Config is nil when the front end found
// errors it could not read past.
func Load(opts Options) (*Source, hcl.Diagnostics) {
	path := opts.Path
	if path == "" {
		path = "."
	}
	if _, err := os.Stat(path); err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Configuration not found",
			Detail:   fmt.Sprintf("%s does not exist. Give a .image.hcl file, a directory of them, or a Dockerfile.", path),
		}}
	}
	if df := dockerfilePath(path, opts.Dockerfile); df != "" {
		return loadDockerfile(df, opts)
	}
	if len(opts.BuildContexts) > 0 {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Named contexts need a Dockerfile",
			Detail:   fmt.Sprintf("--build-context names contexts for a Dockerfile's FROM and COPY --from, but %s is an .image.hcl configuration. Write the directory as a copy's source (or a module) and the image as a base (\"oci:PATH\" or a reference) instead.", path),
		}}
	}
	dir := path
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		dir = filepath.Dir(path)
	}
	absDir, _ := filepath.Abs(dir)
	vars := lang.VarSources(absDir, opts.Environ, opts.Vars)
	cfg, diags := lang.Load(path, lang.Options{Vars: vars, Platform: opts.Platform, ValuesOptional: opts.ValuesOptional})
	src := &Source{Config: cfg, Dir: absDir, Vars: vars, SourceDateEpoch: sourceDateEpoch(opts.Environ)}
	if cfg != nil {
		src.Files = cfg.Files
	}
	return src, diags
}

// dockerfilePath is the Dockerfile to import, or "" for an .image.hcl
// configuration: -f, a path named like a Dockerfile, or a directory's
// Dockerfile (or Containerfile) when it holds no .image.hcl file.
func dockerfilePath(path, flag string) string {
	if flag != "" {
		return flag
	}
	if IsDockerfile(path) {
		return path
	}
	if st, err := os.Stat(path); err != nil || !st.IsDir() || hasImageHCL(path) {
		return ""
	}
	for _, name := range []string{"Dockerfile", "Containerfile"} {
		if _, err := os.Stat(filepath.Join(path, name)); err == nil {
			return filepath.Join(path, name)
		}
	}
	return ""
}

func hasImageHCL(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*"+lang.FileSuffix))
	return len(m) > 0
}

func loadDockerfile(path string, opts Options) (*Source, hcl.Diagnostics) {
	absDir, _ := filepath.Abs(filepath.Dir(path))
	vars := lang.VarSources(absDir, opts.Environ, opts.Vars)
	args, fromEnv, diags := lang.StringVars(vars)
	if diags.HasErrors() {
		return &Source{Files: map[string]*hcl.File{}}, diags
	}
	// SOURCE_DATE_EPOCH as buildx and BuildKit take it: buildx passes the
	// environment's as a build argument, which an ARG SOURCE_DATE_EPOCH
	// then sees in RUN steps, and the build argument (the environment's
	// or --build-arg's, which wins) is the build's epoch.
	// Either way it is used without an ARG, so it is never reported as
	// an unused build argument.
	epoch, set := args["SOURCE_DATE_EPOCH"]
	if !set {
		epoch = sourceDateEpoch(opts.Environ)
	}
	if epoch != "" {
		args["SOURCE_DATE_EPOCH"], fromEnv["SOURCE_DATE_EPOCH"] = epoch, true
	}
	data, rdiags := lang.ReadSource(path, "Dockerfile")
	if diags = append(diags, rdiags...); rdiags.HasErrors() {
		return nil, diags
	}
	// docker build's context is the PATH argument; with -f and no PATH, the
	// current directory; otherwise the Dockerfile's directory.
	ctxDir := filepath.Dir(path)
	if opts.Dockerfile != "" {
		ctxDir = opts.Path
		if ctxDir == "" {
			ctxDir = "."
		}
	}
	absCtx, _ := filepath.Abs(ctxDir)
	contexts, cdiags := namedContexts(opts.BuildContexts, !opts.ValuesOptional)
	if diags = append(diags, cdiags...); cdiags.HasErrors() {
		return nil, diags
	}
	dopts := dockerfile.Options{BuildArgs: args, Ambient: fromEnv, Target: opts.Target, Dir: absCtx, Platform: opts.Platform, ValuesOptional: opts.ValuesOptional, Contexts: contexts}
	if opts.BaseOnBuild != nil {
		dopts.BaseOnBuild = func(ref imageref.Ref) ([]string, error) { return opts.BaseOnBuild(ref, absCtx) }
	}
	cfg, idiags := dockerfile.Import(path, data, dopts)
	diags = append(diags, idiags...)
	src := &Source{Config: cfg, Dir: absCtx, Dockerfile: true, Files: map[string]*hcl.File{path: {Bytes: data}}, Vars: vars, SourceDateEpoch: epoch}
	if _, err := os.Stat(path + ".dockerignore"); err == nil {
		src.IgnoreFile, _ = filepath.Abs(path + ".dockerignore")
	}
	if cfg != nil && cfg.Files != nil {
		src.Files = cfg.Files
	}
	return src, diags
}

// namedContexts reads the --build-context values; stat checks that a
// directory exists (not for validate, which reads no context).
func namedContexts(values []string, stat bool) (map[string]dockerfile.NamedContext, hcl.Diagnostics) {
	if len(values) == 0 {
		return nil, nil
	}
	out := map[string]dockerfile.NamedContext{}
	var diags hcl.Diagnostics
	for _, v := range values {
		name, nc, err := dockerfile.ParseNamedContext(v)
		if err == nil && nc.Dir != "" && stat {
			if st, serr := os.Stat(nc.Dir); serr != nil || !st.IsDir() {
				err = fmt.Errorf("%s is not a directory", nc.Dir)
			}
		}
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid --build-context",
				Detail:   fmt.Sprintf("--build-context %q: %s. Give %s.", v, err, dockerfile.NamedContextForms),
			})
			continue
		}
		out[name] = nc
	}
	return out, diags
}
