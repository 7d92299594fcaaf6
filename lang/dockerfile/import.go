package dockerfile

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"runtime"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/model"
)

// Options are the inputs of a Dockerfile build that the file itself
// does not hold.
type Options struct {
	// BuildArgs override ARG defaults (--var / --build-arg).
	BuildArgs map[string]string
	// Ambient names the BuildArgs that come from the environment
	// (IMGC_VAR_*), which one variable may set for many builds: an ARG no
	// Dockerfile declares is not reported for them.
	Ambient map[string]bool
	// Target names the stage to build (docker build --target); the last
	// stage when empty.
	Target string
	// Dir is the build context directory.
	Dir string
	// Platform is the target platform "os/arch[/variant]" for
	// TARGETPLATFORM and friends; the host's when empty.
	Platform string
	// BaseOnBuild, if set, returns the ONBUILD triggers of an image from
	// outside the Dockerfile that a FROM names (as written there), so
	// that they run as Docker runs them. Without it they do not run.
	BaseOnBuild func(ref imageref.Ref) ([]string, error)
}

// Import evaluates a Dockerfile into the model an .image.hcl configuration
// evaluates to, with BuildKit's semantics for ARG, ENV and expansion. Every
// instruction keeps a range over its Dockerfile lines. The Config has
// passed model.Check; it is nil when Import reports an error.
func Import(filename string, src []byte, opts Options) (*model.Config, hcl.Diagnostics) {
	if diags := checkSize(filename, src); diags != nil {
		return nil, diags
	}
	im := newImporter(filename, src, opts, false)
	im.run()
	if im.cfg != nil {
		im.diags = append(im.diags, model.Check(im.cfg)...)
	}
	if im.diags.HasErrors() {
		// The importer does not leave broken instructions out one by one
		// as lang leaves out broken steps, and it checks options the
		// compiler checks too (the target): what it has is not compiled.
		return nil, im.diags
	}
	return im.cfg, im.diags
}

// importer holds the state of one Import or Convert run.
type importer struct {
	envWork    int // environment variables given to RUN steps so far
	src        *source
	opts       Options
	converting bool
	lex        *shell.Lex
	lexKeep    *shell.Lex
	escape     rune
	ast        *parser.Node
	diags      hcl.Diagnostics
	cfg        *model.Config

	global envList
	// globalUnset are global ARGs without a value, with their variable
	// references (only kept when converting).
	globalUnset envList
	globalArgs  []string
	usedArgs    map[string]bool
	stages      []*stageState

	// Side tables for Convert.
	tmpl     map[any]map[string]string
	vars     *varTable
	comments map[int][]string
}

// stageState is the BuildKit dispatch state of one stage while its
// instructions are imported.
type stageState struct {
	st     *model.Stage
	index  int
	parent *stageState
	// external is a base from a registry: its environment is unknown
	// until the image is pulled.
	external bool
	stepped  bool

	env      envList        // what RUN sees and words expand against (ENV and ARG)
	imageEnv envList        // the image config's environment (ENV only)
	baseEnv  envList        // the environment inherited from a parent stage
	stEnv    map[string]int // name -> position in st.Env
	args     map[string]bool

	workdir, baseWorkdir string
	workdirKnown         bool
	user, baseUser       string
	// Templates of workdir and user, when converting.
	workdirTmpl, userTmpl string
	shell, baseShell      []string
	shellSet              bool
	cmdSet                bool

	cfg     model.ImageConfig
	cfgUsed bool
}

func newImporter(filename string, src []byte, opts Options, converting bool) *importer {
	im := &importer{
		src:        newSource(filename, src),
		opts:       opts,
		converting: converting,
		usedArgs:   map[string]bool{},
		tmpl:       map[any]map[string]string{},
		comments:   map[int][]string{},
		vars:       &varTable{byName: map[string]*variable{}},
	}
	return im
}

func (im *importer) errorf(rng hcl.Range, summary, detail string, args ...any) {
	im.diags = append(im.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(detail, args...),
		Subject:  rng.Ptr(),
	})
}

func (im *importer) warnf(rng hcl.Range, summary, detail string, args ...any) {
	im.diags = append(im.diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  summary,
		Detail:   fmt.Sprintf(detail, args...),
		Subject:  rng.Ptr(),
	})
}

// parsedNode is one instruction with its AST node.
type parsedNode struct {
	node *parser.Node
	cmd  any
	rng  hcl.Range
}

func (im *importer) run() {
	res, err := parser.Parse(bytes.NewReader(im.src.src))
	if err != nil {
		im.errorf(im.src.errorRange(err, nil), "Invalid Dockerfile", "%s Fix the Dockerfile syntax at this line.", sentence(errorText(err)))
		return
	}
	im.ast = res.AST
	im.escape = res.EscapeToken
	im.lex, im.lexKeep = newLexers(res.EscapeToken)
	im.cfg = &model.Config{
		Dir:   im.opts.Dir,
		Files: map[string]*hcl.File{im.src.filename: {Bytes: im.src.src}},
		Vars:  map[string]string{},
	}
	for _, w := range res.Warnings {
		rng := im.src.lines(1, 1)
		if w.Location != nil {
			rng = im.src.locations([]parser.Range{*w.Location})
		}
		im.warnf(rng, "Dockerfile warning", "%s", sentence(w.Short))
	}

	im.trailingComments(res.AST)

	var meta []parsedNode
	var groups [][]parsedNode // one per FROM, starting with it
	for _, n := range res.AST.Children {
		rng := im.src.node(n)
		if len(n.PrevComment) > 0 {
			im.comments[n.StartLine] = n.PrevComment
		}
		cmd, err := parseInstruction(n)
		if err != nil {
			detail := sentence(errorText(err))
			summary := "Invalid instruction"
			var ui *instructions.UnknownInstructionError
			if errors.As(err, &ui) {
				summary = "Unknown instruction"
				detail += " Use one of the Dockerfile instructions (FROM, RUN, COPY, ADD, ENV, ARG, ...), or fix its spelling."
			} else {
				detail += fmt.Sprintf(" Fix the %s instruction.", strings.ToUpper(n.Value))
			}
			im.errorf(rng, summary, "%s", detail)
			continue
		}
		pn := parsedNode{node: n, cmd: cmd, rng: rng}
		if _, ok := cmd.(*instructions.Stage); ok {
			groups = append(groups, []parsedNode{pn})
			continue
		}
		if len(groups) == 0 {
			if _, ok := cmd.(*instructions.ArgCommand); ok {
				meta = append(meta, pn)
				continue
			}
			im.errorf(rng, "Instruction before FROM", "Only ARG may come before the first FROM. Move this %s instruction after a FROM.", strings.ToUpper(n.Value))
			continue
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], pn)
	}
	if len(groups) == 0 {
		if !im.diags.HasErrors() {
			im.errorf(im.src.lines(1, 1), "No stage", "A Dockerfile needs at least one FROM instruction. Add one, for example FROM alpine.")
		}
		return
	}

	im.initGlobal()
	for _, pn := range meta {
		im.globalArg(pn)
	}
	for i, g := range groups {
		im.stage(i, g)
	}
	im.chooseTarget()
	im.checkBuildArgs()
}

// trailingComments keeps the comments after the last instruction, which
// the parser attaches to nothing, for Convert.
func (im *importer) trailingComments(ast *parser.Node) {
	if !im.converting || len(ast.Children) == 0 {
		return
	}
	last := ast.Children[len(ast.Children)-1].EndLine
	for line := last + 1; line <= len(im.src.starts); line++ {
		r := im.src.lines(line, line)
		text := strings.TrimSpace(string(im.src.src[r.Start.Byte:r.End.Byte]))
		if strings.HasPrefix(text, "#") {
			if c := strings.TrimSpace(strings.TrimPrefix(text, "#")); c != "" {
				im.comments[line] = []string{c}
			}
		}
	}
}

// platformArgs are BuildKit's automatic global ARGs.
var platformArgs = []string{
	"BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT",
	"TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
}

// hostPlatform is the platform imgc builds for by default.
func hostPlatform() (os, arch, variant string) {
	if runtime.GOARCH == "arm" {
		return "linux", "arm", "v7"
	}
	return "linux", runtime.GOARCH, ""
}

func (im *importer) initGlobal() {
	bos, barch, bvar := hostPlatform()
	tos, tarch, tvar := bos, barch, bvar
	if p := im.opts.Platform; p != "" {
		parts := strings.Split(p, "/")
		tos = parts[0]
		tarch, tvar = "", ""
		if len(parts) > 1 {
			tarch = parts[1]
		}
		if len(parts) > 2 {
			tvar = parts[2]
		}
	}
	format := func(os, arch, variant string) string {
		if variant != "" {
			return os + "/" + arch + "/" + variant
		}
		return os + "/" + arch
	}
	values := map[string]string{
		"BUILDPLATFORM": format(bos, barch, bvar), "BUILDOS": bos, "BUILDARCH": barch, "BUILDVARIANT": bvar,
		"TARGETPLATFORM": format(tos, tarch, tvar), "TARGETOS": tos, "TARGETARCH": tarch, "TARGETVARIANT": tvar,
	}
	for _, name := range platformArgs {
		v := values[name]
		if bv, ok := im.opts.BuildArgs[name]; ok {
			v = bv
			im.usedArgs[name] = true
		}
		e := envEntry{Name: name, Value: v}
		if im.converting {
			e.Tmpl = varRef(im.vars.platform(name, v))
		}
		im.global = im.global.set(e)
	}
}

// globalArg declares ARGs before the first FROM: usable in FROM and as
// defaults of ARGs re-declared in a stage.
func (im *importer) globalArg(pn parsedNode) {
	c := pn.cmd.(*instructions.ArgCommand)
	for _, kv := range c.Args {
		name := kv.Key
		im.globalArgs = append(im.globalArgs, name)
		var e envEntry
		set := false
		if v, ok := im.opts.BuildArgs[name]; ok {
			im.usedArgs[name] = true
			e, set = envEntry{Name: name, Value: v, Tmpl: quoteLit(v)}, true
		} else if kv.Value != nil {
			x, err := im.expandWord(*kv.Value, im.global, false)
			if err != nil {
				im.errorf(pn.rng, "Invalid ARG default", "%s Fix the variable reference in the default of %s.", sentence(err.Error()), name)
				continue
			}
			e, set = envEntry{Name: name, Value: x.Value}, true
			im.noteDerived(pn.rng, name, x)
		} else if g, ok := im.global.get(name); ok {
			e, set = g, true
		}
		if im.converting {
			def := ""
			if set {
				def = e.Value
			}
			v := im.vars.declare(name, "", def, pn.rng, true)
			e.Tmpl = varRef(v.Name)
		}
		if set {
			im.global = im.global.set(e)
			im.cfg.Vars[name] = e.Value
		} else {
			im.cfg.Vars[name] = ""
			e.Name = name
			im.globalUnset = im.globalUnset.set(e)
		}
	}
}

// requireUnset handles, when converting, a FROM that uses global ARGs
// declared without a value: Docker cannot build it without build
// arguments, so their variables get no default and the FROM references
// them. It reports whether the FROM used any.
func (im *importer) requireUnset(word string, st *model.Stage) bool {
	env := im.global.clone()
	var unset []string
	for _, e := range im.globalUnset.entries {
		if _, ok := env.get(e.Name); !ok {
			env = env.set(e)
		}
	}
	x, err := im.expandWord(word, env, false)
	if err != nil {
		return false
	}
	for _, n := range x.Matched {
		if _, ok := im.globalUnset.get(n); ok {
			if _, set := im.global.get(n); !set {
				unset = append(unset, n)
				im.vars.byName[identifier(n)].Required = true
			}
		}
	}
	if len(unset) == 0 {
		return false
	}
	im.forceTmpl(st, "from", x.Tmpl)
	im.warnf(st.DeclRange, "Base image needs a variable", "The base image %q uses %s, which the Dockerfile declares without a default, so the converted variables have no default either; pass them with --var.", word, strings.Join(unset, ", "))
	return true
}

// noteDerived warns, when converting, that a default computed from other
// variables becomes a constant default.
func (im *importer) noteDerived(rng hcl.Range, name string, x expansion) {
	if !im.converting || len(x.Matched) == 0 {
		return
	}
	im.warnf(rng, "ARG default from other variables", "The default of %s is computed from %s; HCL variable defaults must be constant, so the converted variable defaults to %q and no longer follows them. Set it explicitly with --var when you change them.", name, strings.Join(x.Matched, ", "), x.Value)
}

func (im *importer) stageNamed(name string) *stageState {
	name = strings.ToLower(name)
	for _, s := range im.stages {
		if strings.ToLower(s.st.Name) == name {
			return s
		}
	}
	return nil
}

func (im *importer) stage(index int, g []parsedNode) {
	from := g[0]
	fc := from.cmd.(*instructions.Stage)
	name := fc.Name
	if name == "" {
		name = fmt.Sprintf("stage-%d", index)
	}
	st := &model.Stage{
		Kind:      model.KindStage,
		Name:      name,
		DeclRange: from.rng,
		Range:     im.src.lines(from.node.StartLine, g[len(g)-1].node.EndLine),
	}
	if prev := im.stageNamed(name); prev != nil {
		im.errorf(from.rng, "Duplicate stage name", "The stage name %q is already used by the FROM at line %d. Rename one of the stages.", name, prev.st.DeclRange.Start.Line)
	}
	s := &stageState{st: st, index: index, args: map[string]bool{}}

	base, err := im.expandWord(fc.BaseName, im.global, false)
	switch {
	case err != nil:
		im.errorf(from.rng, "Invalid base image", "%s Fix the variable reference in the FROM instruction.", sentence(err.Error()))
	case base.Value == "" && im.converting && im.requireUnset(fc.BaseName, st):
	case base.Value == "":
		im.errorf(from.rng, "Empty base image", "The base image %q expands to an empty string. Give its ARG a default before the first FROM, or pass a value with --var.", fc.BaseName)
	}
	st.From.Range = from.rng
	var image *model.Image // the base when it is an image
	if parent := im.stageNamed(base.Value); parent != nil && base.Value != "" {
		st.From.Base = &model.Target{Name: parent.st.Name}
		s.inherit(parent)
	} else if strings.EqualFold(base.Value, "scratch") {
		st.From.Base = &model.Scratch{}
		s.workdirKnown = true
	} else {
		s.external = true
		im.setTmpl(st, "from", base)
		im.keepWritten(st, "from", base.Value)
		needsVar := im.converting && im.requireUnset(fc.BaseName, st)
		ref, err := imageref.Parse(base.Value)
		switch {
		case err == nil:
			image = &model.Image{Ref: ref}
			st.From.Base = image
		case base.Value != "" && !needsVar:
			im.diags = append(im.diags, model.InvalidImageRef(base.Value, err, from.rng, ", or give the ARGs it uses defaults"))
		}
		if st.From.Base == nil {
			// Reported, or known only once --var gives it a value (the
			// conversion writes its template): scratch stands in.
			st.From.Base = &model.Scratch{}
		}
		im.checkWindowsBase(from.rng, base.Value)
	}
	im.useArgs(base.Matched)

	st.PlatformRange = from.rng
	switch p := strings.TrimSpace(fc.Platform); p {
	case "":
	case "$TARGETPLATFORM", "${TARGETPLATFORM}":
		st.Platform = im.opts.Platform
	default:
		// $BUILDPLATFORM expands to the host's platform: the stage runs
		// natively whatever the target platform (the cross-compilation
		// idiom).
		x, err := im.expandWord(p, im.global, false)
		if err != nil || x.Value == "" {
			im.errorf(from.rng, "Invalid platform", "The platform %q of this FROM does not expand to a platform. Use a value like linux/amd64.", p)
			break
		}
		st.Platform = x.Value
		im.setTmpl(st, "platform", x)
		im.useArgs(x.Matched)
		if strings.HasPrefix(x.Value, "windows") {
			im.errorf(from.rng, "Windows image", "imgc builds Linux images only, and this stage asks for the platform %q. Build Windows images with Docker.", x.Value)
		}
	}
	im.stages = append(im.stages, s)
	im.cfg.Stages = append(im.cfg.Stages, st)

	var triggers []string
	origin := ""
	switch {
	case s.parent != nil:
		triggers, origin = s.parent.cfg.OnBuild, fmt.Sprintf("stage %q", s.parent.st.Name)
	case image != nil && im.opts.BaseOnBuild != nil && !im.converting:
		var err error
		triggers, err = im.opts.BaseOnBuild(image.Ref)
		origin = fmt.Sprintf("image %q", base.Value)
		if err != nil {
			im.warnf(from.rng, "Base image not read", "The ONBUILD triggers of %s could not be read, so none run: %s.", base.Value, err)
		}
	}
	for _, pn := range im.onbuildTriggers(triggers, origin, from.rng) {
		im.instruction(s, pn)
	}
	for _, pn := range g[1:] {
		im.instruction(s, pn)
	}
	im.finishStage(s)
}

// inherit starts s from what its parent stage left: its environment,
// arguments, working directory, user and shell.
func (s *stageState) inherit(parent *stageState) {
	s.parent = parent
	// A value the parent left referencing its base image's environment
	// is resolved in the parent's image config, which is this stage's
	// base: words here must reference it, not copy it unexpanded.
	for _, e := range parent.env.entries {
		if len(e.Unset) == 0 {
			s.env = s.env.set(e)
		}
	}
	s.imageEnv = parent.imageEnv.clone()
	s.baseEnv = parent.imageEnv.clone()
	for k := range parent.args {
		s.args[k] = true
	}
	s.workdir, s.baseWorkdir, s.workdirKnown = parent.workdir, parent.workdir, parent.workdirKnown
	s.user, s.baseUser = parent.user, parent.user
	s.workdirTmpl, s.userTmpl = parent.workdirTmpl, parent.userTmpl
	s.shell, s.baseShell = parent.shell, parent.shell
	s.external = parent.external
}

// onbuildTriggers parses the ONBUILD triggers of a base (a parent stage, or
// an image as BaseOnBuild reads it), which run first in a stage built on
// it, as BuildKit's dispatchOnBuildTriggers does. They are reported at the
// FROM that runs them. The base's triggers are consumed here: the runtime
// never copies them into this stage's image.
func (im *importer) onbuildTriggers(triggers []string, origin string, rng hcl.Range) []parsedNode {
	var out []parsedNode
	for _, trigger := range triggers {
		res, err := parser.Parse(strings.NewReader(trigger))
		if err == nil && len(res.AST.Children) != 1 {
			err = errors.New("an ONBUILD trigger must be a single instruction")
		}
		var cmd any
		if err == nil {
			cmd, err = parseInstruction(res.AST.Children[0])
		}
		if err == nil {
			switch cmd.(type) {
			case *instructions.Stage, *instructions.OnbuildCommand:
				err = errors.New("FROM and ONBUILD cannot be ONBUILD triggers")
			}
		}
		if err != nil {
			im.errorf(rng, "Invalid ONBUILD trigger", "The trigger %q of %s, which runs at this FROM: %s Fix the ONBUILD instruction of %s.", trigger, origin, sentence(errorText(err)), origin)
			continue
		}
		out = append(out, parsedNode{node: res.AST.Children[0], cmd: cmd, rng: rng})
	}
	return out
}

// checkWindowsBase rejects Windows base images: their paths, shells and
// layers are a different world that imgc does not build.
func (im *importer) checkWindowsBase(rng hcl.Range, ref string) {
	r := strings.ToLower(ref)
	for _, w := range []string{"windows/servercore", "windows/nanoserver", "/windows:", "windowsservercore", "nanoserver"} {
		if strings.Contains(r, w) {
			im.errorf(rng, "Windows image", "imgc builds Linux images only, and %q is a Windows base image. Build Windows images with Docker.", ref)
			return
		}
	}
}

func (im *importer) useArgs(names []string) {
	for _, n := range names {
		im.usedArgs[n] = true
	}
}

// expand expands one word in stage s and reports errors on rng.
func (im *importer) expand(s *stageState, rng hcl.Range, word string) (expansion, bool) {
	return im.expandIn(s, rng, word, s.expandEnv())
}

// expandIn expands word against env, a snapshot of the stage's
// environment: Docker expands every word of one instruction against the
// environment from before it.
func (im *importer) expandIn(s *stageState, rng hcl.Range, word string, env envList) (expansion, bool) {
	x, err := im.expandWord(word, env, s.external)
	if err != nil {
		im.errorf(rng, "Invalid variable reference", "%s Fix the ${...} expression in %q.", sentence(err.Error()), word)
		return expansion{Value: word, Tmpl: quoteLit(word)}, false
	}
	im.useArgs(x.Matched)
	return x, true
}

// expandEnv is the environment words expand against: a declared ARG
// without a value is empty, not a variable of the base image.
func (s *stageState) expandEnv() envList {
	env := s.env
	copied := false
	for name := range s.args {
		if _, ok := env.get(name); !ok {
			if !copied {
				env, copied = env.clone(), true
			}
			env = env.set(envEntry{Name: name})
		}
	}
	return env
}

// argVars lists the stage's ARGs that a word referenced: what plan
// attributes a change to.
func (s *stageState) argVars(matched []string) []string {
	var out []string
	for _, m := range matched {
		if s.args[m] {
			out = append(out, m)
		}
	}
	return out
}

func (s *stageState) allArgs() []string {
	var out []string
	for k := range s.args {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// modelDefaults is the environment every step of the stage already has
// (inherited, then the stage's env attribute), with values as the model
// writes them.
func (s *stageState) modelDefaults() envList {
	var def envList
	for _, e := range s.baseEnv.entries {
		def = def.set(envEntry{Name: e.Name, Value: e.model()})
	}
	for _, e := range s.st.Env {
		def = def.set(envEntry{Name: e.Name, Value: e.Value})
	}
	return def
}

// runEnv is the environment a RUN adds over its stage's env attribute: the
// ARGs in scope and ENV changed after the first step.
func (s *stageState) runEnv() []envEntry {
	def := s.modelDefaults()
	var out []envEntry
	for _, e := range s.env.entries {
		if d, ok := def.get(e.Name); ok && d.Value == e.model() {
			continue
		}
		out = append(out, e)
	}
	return out
}

func (im *importer) setEnvList(owner any, dst *[]model.EnvVar, entries []envEntry) {
	for _, e := range entries {
		*dst = append(*dst, model.EnvVar{Name: e.Name, Value: e.model()})
		if im.converting && e.Tmpl != "" {
			im.setTmpl(owner, "env."+e.Name, expansion{Value: e.model(), Tmpl: e.modelTmpl()})
		}
	}
}

func (im *importer) finishStage(s *stageState) {
	// ENV changed after the first step: the image config carries it.
	def := s.modelDefaults()
	var cfgEnv []envEntry
	for _, e := range s.imageEnv.entries {
		if d, ok := def.get(e.Name); ok && d.Value == e.model() {
			continue
		}
		cfgEnv = append(cfgEnv, e)
	}
	cfg := &s.cfg
	if len(cfgEnv) > 0 {
		im.setEnvList(cfg, &cfg.Env, cfgEnv)
		s.cfgUsed = true
	}
	if s.workdir != s.baseWorkdir {
		cfg.Workdir = s.workdir
		im.setTmpl(cfg, "workdir", expansion{Value: s.workdir, Tmpl: s.workdirTmpl})
		s.cfgUsed = true
	}
	if s.user != s.baseUser {
		cfg.User = s.user
		im.setTmpl(cfg, "user", expansion{Value: s.user, Tmpl: s.userTmpl})
		s.cfgUsed = true
	}
	if s.shellSet {
		cfg.Shell = s.shell
		s.cfgUsed = true
	}
	if s.cfgUsed {
		cfg.Range = s.st.Range
		s.st.Config = cfg
	}
}

func (im *importer) chooseTarget() {
	target := im.stages[len(im.stages)-1]
	if t := im.opts.Target; t != "" {
		target = im.stageNamed(t)
		if target == nil {
			names := make([]string, len(im.stages))
			for i, s := range im.stages {
				names[i] = s.st.Name
			}
			im.errorf(im.src.lines(1, 1), "Unknown target", "The target stage %q is not in this Dockerfile. Use one of: %s.", t, strings.Join(names, ", "))
			target = im.stages[len(im.stages)-1]
		}
	}
	target.st.Kind = model.KindImage
}

func (im *importer) checkBuildArgs() {
	var unused []string
	for k := range im.opts.BuildArgs {
		if !im.usedArgs[k] && !im.declared(k) && !im.opts.Ambient[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) == 0 {
		return
	}
	sort.Strings(unused)
	im.diags = append(im.diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  "Unused build arguments",
		Detail:   fmt.Sprintf("No ARG declares %s, so the value has no effect. Declare it with ARG or drop it from the command line.", strings.Join(unused, ", ")),
	})
}

func (im *importer) declared(name string) bool {
	if _, ok := im.cfg.Vars[name]; ok {
		return true
	}
	for _, s := range im.stages {
		if s.args[name] {
			return true
		}
	}
	return false
}

// resolveWorkdir applies a WORKDIR to the current one, as BuildKit's
// system.NormalizeWorkdir does on Linux.
func resolveWorkdir(current, requested string) string {
	if path.IsAbs(requested) {
		return path.Clean(requested)
	}
	if current == "" {
		current = "/"
	}
	return path.Join("/", current, requested)
}

// resolveDest makes a COPY/ADD destination absolute against the working
// directory when it is known, keeping a trailing slash (BuildKit's
// pathRelativeToWorkingDir).
func resolveDest(s *stageState, dest string) string {
	trailing := strings.HasSuffix(dest, "/") || dest == "." || dest == ""
	if path.IsAbs(dest) {
		d := path.Clean(dest)
		if trailing && d != "/" {
			d += "/"
		}
		return d
	}
	if !s.workdirKnown {
		return dest
	}
	wd := s.workdir
	if wd == "" {
		wd = "/"
	}
	d := path.Join(wd, dest)
	if trailing && d != "/" {
		d += "/"
	}
	return d
}
