package compiler

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/internal/chmod"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/model"
)

// defaultShell runs `sh` steps when neither the step nor the stage sets one.
var defaultShell = []string{"/bin/sh", "-c"}

// lower turns every stage into a target, in build order, with steps
// resolved but copy file lists, base digests and keys still empty (the
// resolve and keys passes fill them). Output marks the targets asked for.
func lower(s *state) *ir.Plan {
	l := &lowerer{state: s, byName: map[string]*model.Stage{}, refs: map[string]*ir.Target{}, targets: map[string]*ir.Target{}}
	for _, st := range s.cfg.Stages {
		if _, dup := l.byName[st.Name]; !dup {
			l.byName[st.Name] = st
		}
	}
	plan := &ir.Plan{Project: s.project}
	outputs := l.outputs()
	for _, st := range l.order() {
		t := l.target(st)
		t.Output = outputs[st.Name]
		plan.Targets = append(plan.Targets, l.pending...)
		l.pending = nil
		plan.Targets = append(plan.Targets, t)
		l.targets[t.Name] = t
	}
	return plan
}

type lowerer struct {
	*state
	byName map[string]*model.Stage
	// refs are targets made for image references that steps copy or mount
	// from, by normalised reference; pending are those not yet placed.
	refs    map[string]*ir.Target
	pending []*ir.Target
	targets map[string]*ir.Target
	// envTotal counts the environment variables of the run steps lowered
	// so far, bounded by MaxStepEnv.
	envTotal int
}

// MaxStepEnv bounds the environment variables of all run steps together.
// Each step carries its stage's whole environment, so n variables and n
// steps make n² of them: a 1 MiB file could ask for billions.
const MaxStepEnv = 1 << 20

// outputs names the targets to export: --target names, or every image.
func (l *lowerer) outputs() map[string]bool {
	out := map[string]bool{}
	if len(l.opts.Targets) == 0 {
		for _, st := range l.cfg.Stages {
			if st.Kind == model.KindImage {
				out[st.Name] = true
			}
		}
		if len(out) == 0 && len(l.cfg.Stages) > 0 && l.opts.ConfigOnly {
			// validate of stages alone (a module's): each is checked
			// as the image it could be built as.
			for _, st := range l.cfg.Stages {
				out[st.Name] = true
			}
			return out
		}
		if len(out) == 0 && len(l.cfg.Stages) > 0 && !fromModules(l.cfg.Stages) {
			// (Only modules' images: the loader's "No images" says so.)
			l.diags = append(l.diags, errorDiag("No image to build", "The configuration declares stages but no image block, so there is nothing to build. Declare an `image` block, or name a stage with --target.", subject(l.cfg.Stages[0].DeclRange)))
		}
		return out
	}
	var names []string
	for _, st := range l.cfg.Stages {
		names = append(names, st.Name)
	}
	for _, t := range l.opts.Targets {
		if l.byName[t] == nil {
			detail := fmt.Sprintf("The configuration has no stage or image called %q, so --target %s names nothing to build.", t, t)
			if sug := model.DidYouMean(t, names); sug != "" {
				detail += fmt.Sprintf(" Did you mean %q?", sug)
			} else if len(names) > 0 {
				detail += fmt.Sprintf(" The targets are: %s.", strings.Join(names, ", "))
			}
			l.diags = append(l.diags, errorDiag("Unknown target", detail, nil))
			continue
		}
		out[t] = true
	}
	return out
}

// order is the build order: depth first in declaration order, so a stage
// follows everything it reads from. model.Check has reported undeclared
// stages and cycles and cut them.
func (l *lowerer) order() []*model.Stage {
	const (
		unvisited = iota
		visiting
		done
	)
	mark := map[string]int{}
	var out []*model.Stage
	var visit func(st *model.Stage)
	visit = func(st *model.Stage) {
		switch mark[st.Name] {
		case done:
			return
		case visiting:
			panic(fmt.Sprintf("compiler: lower: stage %q depends on itself: model.Check lets no cycle through", st.Name))
		}
		mark[st.Name] = visiting
		for _, d := range model.Dependencies(st) {
			dep := l.byName[d]
			if dep == nil {
				panic(fmt.Sprintf("compiler: lower: stage %q reads from undeclared %q: model.Check lets no such reference through", st.Name, d))
			}
			visit(dep)
		}
		mark[st.Name] = done
		out = append(out, st)
	}
	for _, st := range l.cfg.Stages {
		visit(st)
	}
	return out
}

func (l *lowerer) target(st *model.Stage) *ir.Target {
	t := &ir.Target{
		Name:        st.Name,
		Kind:        ir.TargetKind(st.Kind),
		Platform:    l.platform,
		Tags:        st.Tags,
		Annotations: st.Annotations,
		Origin:      ir.OriginOf(st.DeclRange),
	}
	if t.Kind != ir.KindImage {
		t.Kind = ir.KindStage
	}
	if st.Platform != "" {
		where := subject(st.PlatformRange)
		if where == nil {
			where = subject(st.DeclRange)
		}
		mp, err := model.ParsePlatform(st.Platform)
		if err != nil {
			panic(fmt.Sprintf("compiler: lower: stage %q: %v: model.Check lets no invalid platform through", st.Name, err))
		}
		p := ir.Platform{OS: mp.OS, Architecture: mp.Architecture, Variant: mp.Variant}
		if p.OS != "linux" {
			l.diags = append(l.diags, errorDiag("Unsupported platform", fmt.Sprintf(
				"imgc builds Linux images only, and this stage asks for %s. Use a linux/ARCH platform, such as linux/%s.",
				p, l.platform.Architecture), where))
		}
		// Another architecture than the host's is built too: its run steps
		// run under QEMU user emulation (the engine says so when the host
		// has none registered).
		t.Platform = p
	}
	t.Base = l.base(st)
	dependsOn := map[string]bool{}
	if t.Base.Kind == ir.BaseTarget {
		dependsOn[t.Base.Target] = true
	}

	sc := l.stageContext(st, t)
	for _, step := range st.Steps {
		var layer *ir.Layer
		if lb, ok := step.(*model.Layer); ok {
			layer = &ir.Layer{Name: l.mask(lb.Name), Origin: ir.OriginOf(lb.Range)}
			var created []string
			for _, inner := range lb.Steps {
				lowered := l.step(sc, inner, dependsOn)
				if lowered.step == nil {
					continue
				}
				layer.Steps = append(layer.Steps, lowered.step)
				created = append(created, lowered.createdBy)
				layer.NoCache = layer.NoCache || lowered.noCache
				addVars(l.cfg, layer, lowered.vars)
			}
			if len(layer.Steps) == 0 {
				continue
			}
			layer.CreatedBy = l.mask(strings.Join(created, "; "))
		} else {
			lowered := l.step(sc, step, dependsOn)
			if lowered.step == nil {
				continue
			}
			// The name is masked already: masked before it was clipped,
			// so a clipped secret cannot escape the mask.
			layer = &ir.Layer{Name: lowered.name, Steps: []ir.Step{lowered.step}, NoCache: lowered.noCache, CreatedBy: l.mask(lowered.createdBy), Origin: ir.OriginOf(step.StepRange())}
			addVars(l.cfg, layer, lowered.vars)
		}
		t.Layers = append(t.Layers, layer)
	}
	t.Config = imageConfig(st, sc)
	for d := range dependsOn {
		t.DependsOn = append(t.DependsOn, d)
	}
	sort.Strings(t.DependsOn)
	return t
}

func addVars(cfg *model.Config, layer *ir.Layer, vars []string) {
	for _, v := range vars {
		if layer.Vars == nil {
			layer.Vars = map[string]string{}
		}
		layer.Vars[v] = cfg.Vars[v]
		if val, ok := cfg.Sensitive[v]; ok {
			// A token, not "(sensitive)": plan can then tell that it changed.
			layer.Vars[v] = ir.SensitiveToken(val)
		}
	}
}

func (l *lowerer) base(st *model.Stage) ir.Base {
	o := ir.OriginOf(st.From.Range)
	switch b := st.From.Base.(type) {
	case *model.Target:
		return ir.Base{Kind: ir.BaseTarget, Target: b.Name, Origin: o}
	case *model.Scratch:
		return ir.Base{Kind: ir.BaseScratch, Origin: o}
	case *model.Image:
		base := ir.ImageBase(b.Ref.InDir(l.dir))
		base.Origin = o
		return base
	}
	panic(fmt.Sprintf("compiler: lower: stage %q has the base %T: model.Check gives every stage one", st.Name, st.From.Base))
}

// refTarget returns the name of the target standing for an image (or
// scratch) that a step copies or mounts from, making it on first use; ""
// for the build context or a stage, which need no target of their own.
func (l *lowerer) refTarget(from model.Base, r hcl.Range) string {
	var b ir.Base
	switch from := from.(type) {
	case nil:
		return ""
	case *model.Target:
		return from.Name
	case *model.Scratch:
		b = ir.Base{Kind: ir.BaseScratch}
	case *model.Image:
		b = ir.ImageBase(from.Ref.InDir(l.dir))
	}
	name := "scratch"
	if b.Kind != ir.BaseScratch {
		name = b.Ref.Qualified()
	}
	if _, ok := l.refs[name]; !ok {
		b.Origin = ir.OriginOf(r)
		t := &ir.Target{Name: name, Kind: ir.KindStage, Base: b, Platform: l.platform, Origin: ir.OriginOf(r)}
		l.refs[name] = t
		l.pending = append(l.pending, t)
	}
	return name
}

// stageCtx is what a stage's steps inherit.
type stageCtx struct {
	env     []model.EnvVar
	workdir string // absolute, or "" when neither the stage nor its base target sets one
	user    string
	shell   []string
}

func (l *lowerer) stageContext(st *model.Stage, t *ir.Target) stageCtx {
	sc := stageCtx{env: st.Env, user: st.User, shell: st.Shell}
	inherited := ""
	if t.Base.Kind == ir.BaseTarget {
		if bt := l.targets[t.Base.Target]; bt != nil {
			inherited = bt.Config.Workdir
			if sc.shell == nil {
				// Docker's SHELL is part of the image config a stage builds on.
				sc.shell = bt.Config.Shell
			}
		}
	}
	sc.workdir = inherited
	if st.Workdir != "" {
		sc.workdir = joinDir(inherited, st.Workdir)
	}
	return sc
}

// joinDir resolves dir against base as WORKDIR does: absolute stays, a
// relative one is joined onto base (or "/").
func joinDir(base, dir string) string {
	if strings.HasPrefix(dir, "/") {
		return path.Clean(dir)
	}
	if base == "" {
		base = "/"
	}
	return path.Join(base, dir)
}

// inBaseWorkdir reports whether dest is relative to a working directory
// that only the base image knows (the stage and the stages it is built on
// set none): joinDest then gives it from "/", and the engine moves it
// below the image's working directory (ir.Copy.InWorkdir), as Docker
// resolves COPY go.mod . against golang's /go. A destination that starts
// with a variable ($HOME/x) is the base's already.
func inBaseWorkdir(sc stageCtx, dest string) bool {
	return sc.workdir == "" && !strings.HasPrefix(dest, "/") && !strings.HasPrefix(dest, "$")
}

// writtenDest is the destination a history entry names: dest, or the
// one written when it is relative to the base image's working directory.
func writtenDest(dest, written string, inWorkdir bool) string {
	if inWorkdir {
		return written
	}
	return dest
}

// joinDest resolves a copy destination against the working directory,
// keeping a trailing "/".
func joinDest(workdir, dest string) string {
	dir := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.")
	p := joinDir(workdir, dest)
	if dir && p != "/" {
		p += "/"
	}
	return p
}

func envList(base, over []model.EnvVar) []string {
	var out []string
	idx := map[string]int{}
	for _, list := range [][]model.EnvVar{base, over} {
		for _, e := range list {
			kv := e.Name + "=" + e.Value
			if i, ok := idx[e.Name]; ok {
				out[i] = kv
				continue
			}
			idx[e.Name] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

type lowered struct {
	step      ir.Step
	name      string
	createdBy string
	noCache   bool
	vars      []string
}

func (l *lowerer) step(sc stageCtx, step model.Step, dependsOn map[string]bool) lowered {
	switch s := step.(type) {
	case *model.Run:
		return l.run(sc, s, dependsOn)
	case *model.Copy:
		return l.copyStep(sc, s, dependsOn)
	case *model.Add:
		return l.add(sc, s)
	case *model.Mkdir:
		return l.mkdir(sc, s)
	}
	panic(fmt.Sprintf("compiler: lower: unknown step type %T", step))
}

// stepShell is the shell a run step's command runs with: its own, else
// its stage's (SHELL), else the default.
func stepShell(sc stageCtx, s *model.Run) []string {
	shell := s.Shell
	if shell == nil {
		shell = sc.shell
	}
	if len(shell) == 0 {
		shell = defaultShell
	}
	return shell
}

func (l *lowerer) run(sc stageCtx, s *model.Run, dependsOn map[string]bool) lowered {
	var env []string
	if l.envTotal += len(sc.env) + len(s.Env); l.envTotal <= MaxStepEnv {
		env = envList(sc.env, s.Env)
	} else if l.envTotal-len(sc.env)-len(s.Env) <= MaxStepEnv {
		l.diags = append(l.diags, errorDiag("Too many environment variables",
			fmt.Sprintf("The run steps up to this one carry more than %d environment variables in all: each step gets its stage's whole environment. Set variables only some steps need on those steps, or split the stage.", MaxStepEnv),
			subject(s.StepRange())))
	}
	r := &ir.Run{
		Env:        env,
		Workdir:    sc.workdir,
		User:       sc.user,
		Network:    ir.NetworkDefault,
		Reads:      s.Reads,
		Writes:     s.Writes,
		CacheKey:   s.CacheKey,
		Origin:     ir.OriginOf(s.Range),
		Definition: ir.OriginPtr(s.Definition),
	}
	if s.Workdir != "" {
		r.Workdir = joinDir(sc.workdir, s.Workdir)
	}
	if s.User != "" {
		r.User = s.User
	}
	if s.Security == ir.SecurityInsecure {
		r.Security = ir.SecurityInsecure
	}
	for _, d := range s.Devices {
		r.Devices = append(r.Devices, ir.Device{Name: d.Name, Required: d.Required})
	}
	switch s.Network {
	case "", "default":
	case "none":
		r.Network = ir.NetworkNone
	case "host":
		r.Network = ir.NetworkHost
	default:
		panic(fmt.Sprintf("compiler: lower: network mode %q: model.Check lets no other through", s.Network))
	}
	var created string
	switch cmd := s.Command.(type) {
	case *model.Exec:
		r.Argv = append([]string(nil), cmd.Argv...)
		created = "RUN " + jsonList(cmd.Argv)
	case *model.Sh:
		shell := stepShell(sc, s)
		r.Shell, r.Command = true, cmd.Script
		r.Argv = append(append([]string(nil), shell...), cmd.Script)
		created = "RUN " + cmd.Script
	case *model.Script:
		// As BuildKit: the shell runs the file, which the kernel starts
		// with the interpreter of its #! line.
		shell := stepShell(sc, s)
		file := ir.ScriptDir + "/" + cmd.Name
		r.Shell, r.Command = true, file
		r.Argv = append(append([]string(nil), shell...), file)
		r.Script = &ir.Script{Name: cmd.Name, Text: cmd.Text}
		created = "RUN " + cmd.Text
	default:
		panic(fmt.Sprintf("compiler: lower: run step with the command %T: model.Check gives every run step one", s.Command))
	}
	ssh := 0
	for _, m := range s.Mounts {
		im, ok := l.mount(m, dependsOn)
		if !ok {
			continue
		}
		if im.Type == ir.MountSSH {
			r.Env = sshDefaults(&im, ssh, r.Env)
			ssh++
		}
		r.Mounts = append(r.Mounts, im)
	}
	name := strings.Join(r.Argv, " ")
	if r.Shell {
		name = r.Command
	}
	if r.Script != nil {
		name = r.Script.Text
	}
	layerName := macroName(s.Macro, "run "+clipName(firstLine(l.mask(name))))
	if s.MacroLabel != "" {
		layerName = l.clip(s.MacroLabel)
	}
	return lowered{step: r, name: layerName, createdBy: created, noCache: s.NoCache, vars: s.Vars}
}

// sshDefaults gives the i-th ssh mount of a step BuildKit's defaults (the
// agent "default" at /run/buildkit/ssh_agent.I, mode 0600) and, for the
// first, SSH_AUTH_SOCK in env unless the step sets it, as llb.AddSSHSocket
// does.
func sshDefaults(m *ir.Mount, i int, env []string) []string {
	if m.ID == "" {
		m.ID = "default"
	}
	if m.Target == "" {
		m.Target = fmt.Sprintf("/run/buildkit/ssh_agent.%d", i)
	}
	if i > 0 {
		return env
	}
	for _, e := range env {
		if strings.HasPrefix(e, "SSH_AUTH_SOCK=") {
			return env
		}
	}
	return append(env, "SSH_AUTH_SOCK="+m.Target)
}

func (l *lowerer) mount(m model.Mount, dependsOn map[string]bool) (ir.Mount, bool) {
	im := ir.Mount{
		Type: ir.MountType(m.Type), Target: m.Target, ID: m.ID, Sharing: m.Sharing, Source: m.Source,
		ReadOnly: m.ReadOnly, Required: m.Required, Env: m.Env, Mode: m.Mode, UID: m.UID, GID: m.GID, Size: m.Size,
	}
	switch im.Type {
	case ir.MountCache, ir.MountSecret, ir.MountBind, ir.MountTmpfs, ir.MountSSH:
	default:
		panic(fmt.Sprintf("compiler: lower: mount type %q: model.Check lets no other through", m.Type))
	}
	if im.Type == ir.MountCache && im.Sharing == "" {
		im.Sharing = "shared"
	}
	if im.Type == ir.MountCache && im.ID == "" {
		im.ID = m.Target
	}
	if im.Target == "" && !(im.Type == ir.MountSecret && im.Env != "") && im.Type != ir.MountSSH {
		panic(fmt.Sprintf("compiler: lower: %s mount without a target: model.Check lets none through", m.Type))
	}
	im.FromTarget = l.refTarget(m.From, m.Range)
	if m.Context != "" {
		im.Context = m.Context
	}
	if im.FromTarget != "" {
		dependsOn[im.FromTarget] = true
	}
	return im, true
}

// checkChmod reports a copy's or add's chmod that is neither octal nor
// symbolic, before anything is built.
func (l *lowerer) checkChmod(s string, rng hcl.Range) {
	if _, err := chmod.Parse(s); err != nil {
		l.diags = append(l.diags, errorDiag("Invalid chmod", model.Sentence(err.Error()), subject(rng)))
	}
}

func (l *lowerer) copyStep(sc stageCtx, s *model.Copy, dependsOn map[string]bool) lowered {
	l.checkChmod(s.Chmod, s.Range)
	if s.Content != nil {
		return inlineCopy(sc, s, l.clip)
	}
	c := &ir.Copy{
		Sources: s.Src, Dest: joinDest(sc.workdir, s.Dest), InWorkdir: inBaseWorkdir(sc, s.Dest), Exclude: s.Exclude, Chown: s.Chown, Chmod: s.Chmod,
		Link: s.Link, Parents: s.Parents, NamedContext: s.NamedContext, Origin: ir.OriginOf(s.Range),
	}
	if len(s.Src) == 0 || s.Dest == "" {
		panic("compiler: lower: copy step without sources or destination: model.Check lets none through")
	}
	from := ""
	c.FromTarget = l.refTarget(s.From, s.Range)
	c.Definition = ir.OriginPtr(s.Definition)
	if c.FromTarget == "" {
		c.Context = contextOf(l.context, s.Context)
	}
	if c.FromTarget != "" {
		dependsOn[c.FromTarget] = true
		from = "--from=" + c.FromTarget + " "
	}
	return lowered{
		step:      c,
		name:      macroName(s.Macro, "copy "+l.clip(strings.Join(s.Src, " "))),
		createdBy: "COPY " + from + strings.Join(s.Src, " ") + " " + writtenDest(c.Dest, s.Dest, c.InWorkdir),
		vars:      s.Vars,
	}
}

func (l *lowerer) add(sc stageCtx, s *model.Add) lowered {
	l.checkChmod(s.Chmod, s.Range)
	a := &ir.Add{
		URL: s.URL, Checksum: s.Checksum, Sources: s.Src, Dest: joinDest(sc.workdir, s.Dest), InWorkdir: inBaseWorkdir(sc, s.Dest), Extract: s.Extract,
		Chown: s.Chown, Chmod: s.Chmod, Link: s.Link, Exclude: s.Exclude, Origin: ir.OriginOf(s.Range),
	}
	if g := s.Git; g != nil {
		a.Git = &ir.GitSource{Remote: g.Remote, Ref: g.Ref, Subdir: g.Subdir, KeepGitDir: g.KeepGitDir, SkipSubmodules: g.SkipSubmodules}
		if g.Commit != "" {
			// Keyed by the pinned commit now; the ref checked at build.
			a.Git.Commit, a.Git.Verify = g.Commit, true
		}
	}
	kinds := 0
	for _, set := range []bool{s.URL != "", len(s.Src) > 0, s.Git != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 || s.Dest == "" {
		panic("compiler: lower: add step without exactly one of url, src and git, or without destination: model.Check lets none through")
	}
	a.Definition = ir.OriginPtr(s.Definition)
	what := s.URL
	if s.Git != nil {
		what = a.Git.String()
	} else if s.URL == "" {
		a.Context = contextOf(l.context, s.Context)
		what = strings.Join(s.Src, " ")
	}
	return lowered{step: a, name: macroName(s.Macro, "add "+l.clip(what)), createdBy: "ADD " + what + " " + writtenDest(a.Dest, s.Dest, a.InWorkdir), vars: s.Vars}
}

// mkdir lowers a mkdir step: its path resolved against the working
// directory; without a user it is made as the base image's user (not the
// stage's), as a WORKDIR before any USER is. The history reads as the
// WORKDIR BuildKit records.
func (l *lowerer) mkdir(sc stageCtx, s *model.Mkdir) lowered {
	m := &ir.Mkdir{Path: joinDir(sc.workdir, s.Path), User: s.User, Origin: ir.OriginOf(s.Range)}
	return lowered{step: m, name: "mkdir " + l.clip(m.Path), createdBy: "WORKDIR " + m.Path, vars: s.Vars}
}

func imageConfig(st *model.Stage, sc stageCtx) ir.ImageConfig {
	c := ir.ImageConfig{Workdir: sc.workdir, User: st.User, Shell: sc.shell}
	var over []model.EnvVar
	if st.Config != nil {
		over = st.Config.Env
	}
	c.Env = envList(st.Env, over)
	cfg := st.Config
	if cfg == nil {
		return c
	}
	if cfg.Workdir != "" {
		c.Workdir = joinDir(sc.workdir, cfg.Workdir)
	}
	if cfg.User != "" {
		c.User = cfg.User
	}
	if cfg.Shell != nil {
		c.Shell = cfg.Shell
	}
	c.Entrypoint, c.EntrypointSet = cfg.Entrypoint, cfg.EntrypointSet || cfg.Entrypoint != nil
	c.Cmd, c.CmdSet = cfg.Cmd, cfg.CmdSet || cfg.Cmd != nil
	c.Labels = cfg.Labels
	c.BaseEnvLabels = cfg.BaseEnvLabels
	c.ExposedPorts = cfg.Expose
	c.Volumes = cfg.Volumes
	c.StopSignal = cfg.StopSignal
	c.OnBuild = cfg.OnBuild
	c.Author = cfg.Author
	if h := cfg.Healthcheck; h != nil {
		c.Healthcheck = &ir.Healthcheck{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}
	}
	return c
}

func jsonList(s []string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i]) + " …"
	}
	return s
}

// macroName attributes a derived layer name to the step macro the step
// was expanded from, so `plan` shows the expansion.
// contextOf is the directory a step's sources are read from: its own
// (a module's directory) or else the build context.
func contextOf(buildContext, own string) string {
	if own != "" {
		return own
	}
	return buildContext
}

func macroName(macro, name string) string {
	if macro == "" {
		return name
	}
	return macro + ": " + name
}

// clip masks the sensitive values in s, then shortens it as a layer name:
// clipped first, a value cut short would no longer be masked.
func (l *lowerer) clip(s string) string { return clipName(l.mask(s)) }

// clipName shortens a derived layer name to 40 characters.
func clipName(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 40 {
		return string(r[:39]) + "…"
	}
	return s
}

// fromModules tells whether every stage is a module's
// ("module.base.image.runtime"), never built by itself.
func fromModules(stages []*model.Stage) bool {
	for _, st := range stages {
		if !strings.HasPrefix(st.Name, "module.") {
			return false
		}
	}
	return true
}
