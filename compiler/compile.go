package compiler

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/moby/patternmatcher"

	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/internal/hashcache"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/model"
)

// Optimization levels, lowest first.
const (
	LevelNone = "none" // only the required passes
	LevelSafe = "safe" // the default: never changes the layering asked for
	LevelAll  = "all"  // also merges and reorders steps
)

// Options are Compile's inputs besides the configuration.
type Options struct {
	// Targets are --target names (stages or images); empty means every
	// image.
	Targets []string
	// Context overrides the build context directory (cfg.Dir).
	Context string
	// Project overrides Plan.Project, the configuration's absolute path
	// (cfg.Dir when empty).
	Project string
	// Optimize is "none", "safe" or "all"; "" means each stage's own
	// setting, else "safe".
	Optimize string
	// DisabledPasses are --pass NAME=off names.
	DisabledPasses []string
	// Pins is the lock file: PinKey(reference, platform) -> manifest
	// digest; a key of the reference alone pins the host's platform.
	Pins map[string]string
	// Resolve, if set, resolves base references that are neither pinned
	// nor carry a digest (see Resolver for the errors it may return).
	Resolve Resolver
	// Fetch, if set, resolves add steps' remote sources that the
	// configuration does not pin (a URL without a checksum, a git ref) to
	// the digest or commit their keys are computed from. Without it (plan,
	// validate) such a step keeps a key made of the URL or ref, which the
	// plan marks as known only after the download.
	Fetch Fetcher
	// Tags are more names (--tag) for the one image the plan outputs; a
	// plan with several images is an error then. Tags enter no key.
	Tags []string
	// HashCache is the directory of the persistent file hash cache; ""
	// keeps hashes in memory for this run only.
	HashCache string
	// Platform is the target platform, which targets are built for
	// unless they set their own; zero means the host's, linux and
	// runtime.GOARCH. Another architecture than the host's is built with
	// its run steps under emulation (the engine's business); another OS
	// than linux is an error.
	Platform ir.Platform
	// SourceDateEpoch is SOURCE_DATE_EPOCH (seconds) when set: the runtime
	// clamps every file time in a layer to it, so it is key material of
	// every layer.
	SourceDateEpoch string
	// IgnoreFile, when it exists, is read instead of the context's
	// .imgcignore and .dockerignore: BuildKit's DOCKERFILE.dockerignore,
	// the ignore file of one Dockerfile among several sharing a context.
	IgnoreFile string
	// ConfigOnly compiles the configuration alone (validate, convert
	// --check without a context): the build context is not read (copy,
	// add and bind-mount sources are not listed, and their keys do not
	// see file contents) and no base is resolved (Resolve is not called).
	// A missing copy source or local base is then plan's and build's
	// error, not this compilation's.
	ConfigOnly bool
}

// A Resolver resolves a base image reference to the digest of its
// manifest for the plan's platform. Its error says what the compiler
// does: ErrUnresolved (or an error wrapping it) leaves the base keyed by
// its reference, quietly; an *UnreachableError is a registry that cannot
// be reached, reported once per reference as an error whose Extra is that
// *UnreachableError; any other error is a warning for a registry base and
// an error ("Base image not found") for a local one.
type Resolver interface {
	// Resolve resolves ref for the platform (a target's): an index
	// resolves to its image for that platform. An index without it is
	// an *ir.NoPlatformError.
	Resolve(ref imageref.Ref, platform ir.Platform) (digest string, err error)
}

// ResolverFunc is a function as a Resolver.
type ResolverFunc func(ref imageref.Ref, platform ir.Platform) (string, error)

// Resolve calls f.
func (f ResolverFunc) Resolve(ref imageref.Ref, platform ir.Platform) (string, error) {
	return f(ref, platform)
}

// A Fetcher resolves the remote sources of add steps, as BuildKit's http
// and git sources resolve when the build is solved.
type Fetcher interface {
	// URL returns the digest ("sha256:...") of what rawURL serves now.
	URL(rawURL string) (string, error)
	// Git returns the commit that ref ("" is HEAD) names in the
	// repository at remote.
	Git(remote, ref string) (string, error)
}

// ErrUnresolved, returned (or wrapped) by a Resolver, leaves a base
// unresolved without a warning.
var ErrUnresolved = errors.New("reference not resolved")

// UnreachableError is a Resolver's error for a registry it cannot reach.
// A build cannot go on without the base, though the configuration is
// fine: the CLI tells it from the diagnostic's Extra (errors.As on
// hcl.DiagnosticExtra), not from its words.
type UnreachableError struct {
	Ref imageref.Ref
	Err error
}

func (e *UnreachableError) Error() string { return e.Err.Error() }
func (e *UnreachableError) Unwrap() error { return e.Err }

// IsUnreachable tells a diagnostic made for an *UnreachableError.
func IsUnreachable(d *hcl.Diagnostic) bool {
	_, ok := hcl.DiagnosticExtra[*UnreachableError](d)
	return ok
}

// Compile lowers cfg to a plan: targets in build order with every step
// resolved, cache keys computed and the optimizer passes applied. It
// reports every problem it finds; with errors the plan may be nil or
// partial. cfg must satisfy model.Check, which both front ends run: a
// rule of the model broken here is a bug in imgc, and lowering panics
// naming it.
func Compile(cfg *model.Config, opts Options) (*ir.Plan, hcl.Diagnostics) {
	if cfg == nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No configuration", Detail: "There is no configuration to compile. Give a path to an .image.hcl file, a directory holding some, or a Dockerfile."}}
	}
	s, diags := newState(cfg, opts)
	if diags.HasErrors() {
		return nil, diags
	}
	plan := s.runPasses(lower(s), passes)
	plan = s.addTags(plan)
	if plan != nil && len(s.sensitive) > 0 {
		out := *plan
		out.Sensitive = s.sensitive
		plan = &out
	}
	if err := s.hashes.Save(); err != nil {
		s.diags = append(s.diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Hash cache not saved", Detail: fmt.Sprintf("Saving the file hash cache: %v. The next plan hashes every copied file again.", err)})
	}
	return plan, s.diags
}

// addTags gives Options.Tags to the one image the plan outputs.
func (s *state) addTags(plan *ir.Plan) *ir.Plan {
	if plan == nil || len(s.opts.Tags) == 0 {
		return plan
	}
	var outputs []int
	for i, t := range plan.Targets {
		if t.Output {
			outputs = append(outputs, i)
		}
	}
	if len(outputs) != 1 {
		s.diags = append(s.diags, errorDiag("Ambiguous --tag", fmt.Sprintf("--tag names one image, and this build makes %d: choose one with --target, or set tags in each image block", len(outputs)), nil))
		return plan
	}
	out := *plan
	out.Targets = slices.Clone(plan.Targets)
	t := *out.Targets[outputs[0]]
	t.Tags = append(slices.Clone(t.Tags), s.opts.Tags...)
	out.Targets[outputs[0]] = &t
	return &out
}

// state is what lowering and the passes share for one compilation.
type state struct {
	cfg     *model.Config
	opts    Options
	context string
	// dir is the configuration's directory (relative oci: and
	// docker-archive: paths start there); project is Plan.Project.
	dir      string
	project  string
	platform ir.Platform
	// levels is each target's optimization level.
	levels   map[string]string
	disabled map[string]bool
	hashes   *hashcache.Cache
	diags    hcl.Diagnostics
	// check runs ir.Check between passes (tests).
	check bool
	// pass is the running pass; records what it reported.
	pass    string
	records []ir.Optimization

	// sensitive are the values of sensitive variables; mask replaces
	// them in display strings and key inputs (see ir.Masker).
	sensitive []string
	mask      func(string) string

	// ignores are the loaded ignore files: the build context's under
	// "", a named context's under its directory.
	ignores map[string]*patternmatcher.PatternMatcher
	// ignoreIDs name each loaded ignore file and its digest, by the key of
	// ignores ("none" where there is none: ir.Layer.IgnoreFile).
	ignoreIDs map[string]string
	// usedIgnores are the ignore files the steps of the layer being
	// resolved listed contexts through.
	usedIgnores []string

	// stages are cfg's stages by name (Config.Stage is a linear search).
	stages map[string]*model.Stage

	// unreachable are the references reported unreachable, once each.
	unreachable map[string]bool
}

// stage is cfg's stage called name, or nil.
func (s *state) stage(name string) *model.Stage { return s.stages[name] }

func newState(cfg *model.Config, opts Options) (*state, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	s := &state{cfg: cfg, opts: opts, levels: map[string]string{}, disabled: map[string]bool{}, unreachable: map[string]bool{}, check: checkPasses}
	dir := cfg.Dir
	if dir == "" {
		dir = "."
	}
	var err error
	if s.dir, err = filepath.Abs(dir); err != nil {
		diags = append(diags, errorDiag("Configuration directory not found", fmt.Sprintf("Finding the configuration's directory: %v.", err), nil))
	}
	s.project = s.dir
	if opts.Project != "" {
		if s.project, err = filepath.Abs(opts.Project); err != nil {
			diags = append(diags, errorDiag("Configuration path not found", fmt.Sprintf("Finding the configuration's path: %v.", err), nil))
		}
	}
	ctx := dir
	if opts.Context != "" {
		ctx = opts.Context
	}
	if s.context, err = filepath.Abs(ctx); err != nil {
		diags = append(diags, errorDiag("Build context not found", fmt.Sprintf("Finding the build context directory: %v.", err), nil))
	}
	s.platform = opts.Platform
	if s.platform.OS == "" {
		s.platform = ir.Platform{OS: "linux", Architecture: runtime.GOARCH}
	}
	switch opts.Optimize {
	case "", LevelNone, LevelSafe, LevelAll:
	default:
		diags = append(diags, errorDiag("Unknown optimization level", fmt.Sprintf("The optimization level %q is not one of none, safe and all. Use --optimize=safe, --optimize=all or --no-optimize.", opts.Optimize), nil))
	}
	for _, name := range opts.DisabledPasses {
		p := findPass(name)
		switch {
		case p == nil:
			detail := fmt.Sprintf("There is no optimizer pass called %q. The passes are: %s.", name, strings.Join(passNames(), ", "))
			if sug := model.DidYouMean(name, passNames()); sug != "" {
				detail += fmt.Sprintf(" Did you mean %q?", sug)
			}
			diags = append(diags, errorDiag("Unknown pass", detail, nil))
		case p.required:
			diags = append(diags, errorDiag("Required pass cannot be disabled", fmt.Sprintf("The pass %q is required: without it the plan is not a valid build. Remove --pass %s=off.", name, name), nil))
		default:
			s.disabled[name] = true
		}
	}
	s.stages = map[string]*model.Stage{}
	for _, st := range cfg.Stages {
		if s.stages[st.Name] == nil {
			s.stages[st.Name] = st
		}
		level := opts.Optimize
		if level == "" {
			level = st.Optimize
		}
		if level == "" {
			level = LevelSafe
		}
		s.levels[st.Name] = level
	}
	for _, name := range sortedKeys(cfg.Sensitive) {
		s.sensitive = append(s.sensitive, cfg.Sensitive[name])
	}
	s.mask = ir.Masker(s.sensitive)
	s.hashes = hashcache.Open(opts.HashCache)
	return s, diags
}

// level is the optimization level of a target; targets made for image
// references copied from use the default.
func (s *state) level(target string) string {
	if l, ok := s.levels[target]; ok {
		return l
	}
	if s.opts.Optimize != "" {
		return s.opts.Optimize
	}
	return LevelSafe
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func levelRank(l string) int {
	switch l {
	case LevelNone:
		return 0
	case LevelAll:
		return 2
	}
	return 1
}

func errorDiag(summary, detail string, subject *hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: subject}
}

func subject(r hcl.Range) *hcl.Range {
	if r.Filename == "" && r.Start.Line == 0 {
		return nil
	}
	return &r
}
