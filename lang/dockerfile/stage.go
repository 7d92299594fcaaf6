package dockerfile

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/model"
)

// requireUnset handles a FROM that uses global ARGs declared without a
// value: Docker cannot build it without build arguments, so a conversion
// gives their variables no default and the FROM references them. It
// returns the template of such a FROM, or "" when it uses none.
func (rd *reader) requireUnset(word string, st *stageForm) string {
	if len(rd.globalUnset.entries) == 0 {
		return ""
	}
	var unset []string
	x, err := rd.expandWord(word, rd.globalsAll(), false)
	if err != nil {
		return ""
	}
	for _, n := range x.Matched {
		if _, ok := rd.globalUnset.get(n); ok {
			if _, set := rd.global.get(n); !set {
				unset = append(unset, n)
				rd.f.required = append(rd.f.required, n)
			}
		}
	}
	if len(unset) == 0 {
		return ""
	}
	rd.convertWarnf(st.DeclRange, "Base image needs a variable", "The base image %q uses %s, which the Dockerfile declares without a default, so the converted variables have no default either; pass them with --var.", word, strings.Join(unset, ", "))
	return x.Tmpl
}

// globalsAll are the global ARGs, those without a value included: made
// once, as the global ARGs are all read before the first stage.
func (rd *reader) globalsAll() envList {
	if rd.globalAll == nil {
		env := rd.global.clone()
		for _, e := range rd.globalUnset.entries {
			if _, ok := env.get(e.Name); !ok {
				env = env.set(e)
			}
		}
		rd.globalAll = &env
	}
	return *rd.globalAll
}

// derived is the template of an ARG default computed from other
// variables, which a conversion keeps as a local; when it cannot (the
// value reads the base image's environment, or an expansion HCL cannot
// say), it warns that the default becomes a constant and returns "".
func (rd *reader) derived(rng hcl.Range, name string, x expansion) string {
	if len(x.Matched) == 0 {
		return ""
	}
	if x.Tmpl != quoteLit(x.Value) && !x.Lost && len(x.Unset) == 0 {
		return x.Tmpl
	}
	rd.convertWarnf(rng, "ARG default from other variables", "The default of %s is computed from %s; HCL variable defaults must be constant, so the converted variable defaults to %q and no longer follows them. Set it explicitly with --var when you change them.", name, strings.Join(x.Matched, ", "), x.Value)
	return ""
}

func (rd *reader) stageNamed(name string) *stageState {
	name = strings.ToLower(name)
	for _, s := range rd.stages {
		if strings.ToLower(s.st.Name) == name {
			return s
		}
	}
	return nil
}

// stage reads one FROM and the instructions up to the next.
func (rd *reader) stage(index int, g []parsedNode) {
	from := g[0]
	fc := from.cmd.(*instructions.Stage)
	name := fc.Name
	if name == "" {
		name = fmt.Sprintf("stage-%d", index)
	}
	st := &stageForm{
		Kind:      model.KindStage,
		Name:      name,
		DeclRange: from.rng,
		Range:     rd.src.lines(from.node.StartLine, g[len(g)-1].node.EndLine),
	}
	if prev := rd.stageNamed(name); prev != nil {
		rd.errorf(from.rng, "Duplicate stage name", "The stage name %q is already used by the FROM at line %d. Rename one of the stages.", name, prev.st.DeclRange.Start.Line)
	}
	s := &stageState{st: st, index: index, args: map[string]bool{}}
	if nc, ok := rd.stageContext(fc.Name); ok {
		rd.replaceStage(s, nc, fc, len(g)-1, from.rng)
		return
	}
	base, image := rd.from(s, fc.BaseName, from.rng)
	rd.platform(s, fc.Platform, from.rng)
	rd.stages = append(rd.stages, s)
	rd.f.stages = append(rd.f.stages, st)

	var triggers []string
	origin := ""
	switch {
	case s.parent != nil:
		triggers, origin = s.parent.cfg.OnBuild, fmt.Sprintf("stage %q", s.parent.st.Name)
	case image != nil && rd.opts.BaseOnBuild != nil:
		var err error
		triggers, err = rd.opts.BaseOnBuild(image.Ref)
		origin = fmt.Sprintf("image %q", base)
		if err != nil {
			rd.warnf(from.rng, "Base image not read", "The ONBUILD triggers of %s could not be read, so none run: %s.", base, err)
		}
	}
	for _, pn := range rd.onbuildTriggers(triggers, origin, from.rng) {
		rd.dispatch(s, pn)
	}
	for _, pn := range g[1:] {
		rd.dispatch(s, pn)
	}
	rd.finishStage(s)
}

// from reads a FROM's base: a stage, scratch or an image. It returns the
// base as expanded, and the image when it is one.
func (rd *reader) from(s *stageState, word string, rng hcl.Range) (string, *model.Image) {
	st := s.st
	base, err := rd.expandWord(word, rd.global, false)
	switch {
	case err != nil:
		rd.errorf(rng, "Invalid base image", "%s Fix the variable reference in the FROM instruction.", sentence(err.Error()))
	case base.Value == "":
		// A FROM that Docker builds only with build arguments is a
		// variable without a default in a conversion, an error in an
		// import.
		to := forBoth
		if rd.requireUnset(word, st) != "" {
			to = forImport
			if rd.opts.ValuesOptional {
				break
			}
		}
		rd.diag(to, hcl.DiagError, rng.Ptr(), "Empty base image", fmt.Sprintf("The base image %q expands to an empty string. Give its ARG a default before the first FROM, or pass a value with --var.", word))
	}
	st.FromRange = rng
	var image *model.Image
	if parent := rd.stageNamed(base.Value); parent != nil && base.Value != "" {
		st.From.Base = &model.Target{Name: parent.st.Name}
		s.inherit(parent)
	} else if strings.EqualFold(base.Value, "scratch") {
		st.From.Base = &model.Scratch{}
		s.workdirKnown = true
		if len(base.Matched) > 0 {
			// FROM ${BASE} with BASE=scratch: the conversion keeps the
			// variable, which another value turns into an image.
			st.From.Written = textOf(base).template()
		}
	} else if nc, ok := rd.namedContext(base.Value); ok {
		image = rd.fromContext(s, nc, rng)
	} else {
		s.external = true
		st.From.Written = textOf(base).template()
		needsVar := rd.requireUnset(word, st)
		if needsVar != "" {
			st.From.Written = needsVar
		}
		ref, err := imageref.Parse(base.Value)
		switch {
		case err == nil:
			image = &model.Image{Ref: ref}
			st.From.Base = image
		case base.Value != "":
			d := formDiag{to: forBoth, diag: model.InvalidImageRef(base.Value, err, rng, ", or give the ARGs it uses defaults")}
			if needsVar != "" {
				d.to = forImport
			}
			rd.f.diags = append(rd.f.diags, d)
		}
		if st.From.Base == nil {
			// Reported, or known only once --var gives it a value (the
			// conversion writes its template): scratch stands in.
			st.From.Base = &model.Scratch{}
		}
		rd.checkWindowsBase(rng, base.Value)
	}
	written := textOf(base).Tmpl
	if _, stage := st.From.Base.(*model.Target); stage && len(rd.globalUnset.entries) > 0 {
		// FROM s-${X:-a} with ARG X global without a value: the default
		// names a stage, another value another one or an image.
		if x, err := rd.expandWord(word, rd.globalsAll(), false); err == nil && x.Value == base.Value {
			written = textOf(x).Tmpl
			rd.useArgs(x.Matched)
		}
	}
	if written != "" {
		// FROM ${X}: another value may name another stage, or an image.
		if st.From.Written == "" {
			st.From.Written = written
		}
		st.From.Stages = rd.stagesMatching(st.From.Written, st.From.Base)
	}
	rd.useArgs(base.Matched)
	return base.Value, image
}

// stagesMatching are the stages so far whose names a template could
// expand to: those with its literal text before the first reference and
// after the last. A template that is only references (FROM ${IMAGE})
// gets them only when its value names a stage: an ARG meant for an
// image keeps its plain string.
func (rd *reader) stagesMatching(tmpl string, base model.Base) []string {
	prefix, suffix := "", ""
	if i := strings.Index(tmpl, "${"); i >= 0 {
		prefix = tmpl[:i]
	}
	if i := strings.LastIndex(tmpl, "}"); i >= 0 {
		suffix = tmpl[i+1:]
	}
	if strings.ContainsAny(prefix+suffix, "$%\\\"") {
		prefix, suffix = "", "" // escapes: match every stage
	}
	if _, stage := base.(*model.Target); prefix+suffix == "" && !stage {
		return nil
	}
	var out []string
	for _, s := range rd.stages {
		name := strings.ToLower(s.st.Name)
		if len(name) >= len(prefix)+len(suffix) && strings.HasPrefix(name, strings.ToLower(prefix)) && strings.HasSuffix(name, strings.ToLower(suffix)) {
			out = append(out, s.st.Name)
		}
	}
	return out
}

// platform reads a FROM's --platform.
func (rd *reader) platform(s *stageState, p string, rng hcl.Range) {
	st := s.st
	st.PlatformRange = rng
	switch p = strings.TrimSpace(p); p {
	case "":
	case "$TARGETPLATFORM", "${TARGETPLATFORM}":
		st.Platform = lit(rd.opts.Platform)
	default:
		// $BUILDPLATFORM expands to the host's platform: the stage runs
		// natively whatever the target platform (the cross-compilation
		// idiom).
		x, err := rd.expandWord(p, rd.global, false)
		if err != nil || x.Value == "" {
			rd.errorf(rng, "Invalid platform", "The platform %q of this FROM does not expand to a platform. Use a value like linux/amd64.", p)
			break
		}
		st.Platform = textOf(x)
		rd.useArgs(x.Matched)
		if strings.HasPrefix(x.Value, "windows") {
			rd.errorf(rng, "Windows image", "imgc builds Linux images only, and this stage asks for the platform %q. Build Windows images with Docker.", x.Value)
		}
	}
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
func (rd *reader) onbuildTriggers(triggers []string, origin string, rng hcl.Range) []parsedNode {
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
			rd.errorf(rng, "Invalid ONBUILD trigger", "The trigger %q of %s, which runs at this FROM: %s Fix the ONBUILD instruction of %s.", trigger, origin, sentence(errorText(err)), origin)
			continue
		}
		out = append(out, parsedNode{node: res.AST.Children[0], cmd: cmd, rng: rng})
	}
	return out
}

// checkWindowsBase rejects Windows base images: their paths, shells and
// layers are a different world that imgc does not build.
func (rd *reader) checkWindowsBase(rng hcl.Range, ref string) {
	r := strings.ToLower(ref)
	for _, w := range []string{"windows/servercore", "windows/nanoserver", "/windows:", "windowsservercore", "nanoserver"} {
		if strings.Contains(r, w) {
			rd.errorf(rng, "Windows image", "imgc builds Linux images only, and %q is a Windows base image. Build Windows images with Docker.", ref)
			return
		}
	}
}

func (rd *reader) useArgs(names []string) {
	for _, n := range names {
		rd.usedArgs[n] = true
	}
}

// expand expands one word in stage s and reports errors on rng.
func (rd *reader) expand(s *stageState, rng hcl.Range, word string) (expansion, bool) {
	return rd.expandIn(s, rng, word, s.expandEnv())
}

// expandIn expands word against env, a snapshot of the stage's
// environment: Docker expands every word of one instruction against the
// environment from before it.
func (rd *reader) expandIn(s *stageState, rng hcl.Range, word string, env envList) (expansion, bool) {
	x, err := rd.expandWord(word, env, s.external)
	if err != nil {
		rd.errorf(rng, "Invalid variable reference", "%s Fix the ${...} expression in %q.", sentence(err.Error()), word)
		return expansion{Value: word, Tmpl: quoteLit(word)}, false
	}
	rd.useArgs(x.Matched)
	if x.Large {
		rd.convertWarnf(rng, "Variable reference not kept", "The word %q expands %s into a template of more than %d bytes, so its converted value is the constant %.40q (first 40 bytes shown) and --var no longer changes it. Refer to the variables fewer times if you need it to follow them.", word, strings.Join(x.Matched, ", "), maxTemplate, x.Value)
	}
	if x.Lost {
		rd.convertWarnf(rng, "Variable reference not kept", "The word %q expands %s in a way HCL cannot say, so its converted value is the constant %q and --var no longer changes it. Edit the converted file to compute it if you need to.", word, strings.Join(x.Matched, ", "), x.Value)
	}
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

// envTexts are entries as an env attribute holds them.
func envTexts(entries []envEntry) []envText {
	var out []envText
	for _, e := range entries {
		out = append(out, envText{Name: e.Name, text: e.text(), Null: e.Null})
	}
	return out
}

// workdirText is the working directory with its template.
func (s *stageState) workdirText() text {
	return textOf(expansion{Value: s.workdir, Tmpl: s.workdirTmpl})
}

// userText is the user with its template.
func (s *stageState) userText() text {
	return textOf(expansion{Value: s.user, Tmpl: s.userTmpl})
}

func (rd *reader) finishStage(s *stageState) {
	rd.mkdirVars(s)
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
		cfg.Env = envTexts(cfgEnv)
		s.cfgUsed = true
	}
	if s.workdir != s.baseWorkdir {
		cfg.Workdir = s.workdirText()
		s.cfgUsed = true
	}
	if s.user != s.baseUser {
		cfg.User = s.userText()
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
