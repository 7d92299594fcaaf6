package compiler

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
)

// defaultShell runs `sh` steps when neither the step nor the stage sets one.
var defaultShell = []string{"/bin/sh", "-c"}

// lower turns every stage into a target, in build order, with steps
// resolved but copy file lists, base digests and keys still empty (the
// resolve and keys passes fill them). Output marks the targets asked for.
func lower(s *state) *ir.Plan {
	l := &lowerer{state: s, byName: map[string]*lang.Stage{}, refs: map[string]*ir.Target{}, targets: map[string]*ir.Target{}}
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
	byName map[string]*lang.Stage
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
			if st.Kind == lang.KindImage {
				out[st.Name] = true
			}
		}
		if len(out) == 0 && len(l.cfg.Stages) > 0 {
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
			if sug := suggest(t, names); sug != "" {
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

// deps lists the stages st reads from, in the order it names them.
func deps(st *lang.Stage) []string {
	var out []string
	if st.From.Stage != "" {
		out = append(out, st.From.Stage)
	}
	var walk func(steps []lang.Step)
	walk = func(steps []lang.Step) {
		for _, step := range steps {
			switch step := step.(type) {
			case *lang.Run:
				for _, m := range step.Mounts {
					if m.FromStage != "" {
						out = append(out, m.FromStage)
					}
				}
			case *lang.Copy:
				if step.FromStage != "" {
					out = append(out, step.FromStage)
				}
			case *lang.Layer:
				walk(step.Steps)
			}
		}
	}
	walk(st.Steps)
	return out
}

// order is the build order: depth first in declaration order, so a stage
// follows everything it reads from. Unknown references and cycles are
// reported here (the loader normally catches them first).
func (l *lowerer) order() []*lang.Stage {
	const (
		unvisited = iota
		visiting
		done
	)
	mark := map[string]int{}
	var out []*lang.Stage
	var names []string
	for _, st := range l.cfg.Stages {
		names = append(names, st.Name)
	}
	var visit func(st *lang.Stage, via hcl.Range) bool
	visit = func(st *lang.Stage, via hcl.Range) bool {
		switch mark[st.Name] {
		case done:
			return true
		case visiting:
			l.broken = true
			l.diags = append(l.diags, errorDiag("Stage dependency cycle", fmt.Sprintf("The stage %q depends on itself through its base, copies or mounts. A stage can only read from stages that do not read from it; break the cycle.", st.Name), subject(via)))
			return false
		}
		mark[st.Name] = visiting
		for _, d := range deps(st) {
			dep := l.byName[d]
			if dep == nil {
				detail := fmt.Sprintf("The stage %q reads from %q, which is not declared. Declare it, or fix the name.", st.Name, d)
				if sug := suggest(d, names); sug != "" {
					detail += fmt.Sprintf(" Did you mean %q?", sug)
				}
				l.broken = true
				l.diags = append(l.diags, errorDiag("Reference to undeclared stage", detail, subject(st.DeclRange)))
				continue
			}
			if !visit(dep, st.DeclRange) {
				mark[st.Name] = done
				return false
			}
		}
		mark[st.Name] = done
		out = append(out, st)
		return true
	}
	for _, st := range l.cfg.Stages {
		visit(st, st.DeclRange)
	}
	return out
}

func (l *lowerer) target(st *lang.Stage) *ir.Target {
	t := &ir.Target{
		Name:        st.Name,
		Kind:        ir.TargetKind(st.Kind),
		Platform:    l.platform,
		Tags:        st.Tags,
		Annotations: st.Annotations,
		Origin:      origin(st.DeclRange),
	}
	if t.Kind != ir.KindImage {
		t.Kind = ir.KindStage
	}
	if st.Platform != "" {
		where := subject(st.PlatformRange)
		if where == nil {
			where = subject(st.DeclRange)
		}
		p, err := parsePlatform(st.Platform)
		switch {
		case err != nil:
			l.diags = append(l.diags, errorDiag("Invalid platform", sentence(err.Error()), where))
		case p.OS != l.platform.OS || p.Architecture != l.platform.Architecture:
			l.diags = append(l.diags, errorDiag("Unsupported platform", fmt.Sprintf(
				"Building for %s on a %s/%s host is not supported yet (no emulation): steps run on the host, so their binaries and the image would be the host's. Remove platform to build for the host, or build on a %s/%s host.",
				p, l.platform.OS, l.platform.Architecture, p.OS, p.Architecture), where))
			t.Platform = p
		default:
			t.Platform = p
		}
	}
	t.Base = l.base(st)
	dependsOn := map[string]bool{}
	if t.Base.Kind == ir.BaseTarget {
		dependsOn[t.Base.Target] = true
	}

	sc := l.stageContext(st, t)
	for _, step := range st.Steps {
		var layer *ir.Layer
		if lb, ok := step.(*lang.Layer); ok {
			layer = &ir.Layer{Name: l.mask(lb.Name), Origin: origin(lb.Range)}
			var created []string
			for _, inner := range lb.Steps {
				if _, nested := inner.(*lang.Layer); nested {
					l.diags = append(l.diags, errorDiag("Nested layer block", "A layer block holds run, copy and add steps only; layers do not nest. Move the inner steps into the outer layer block.", subject(inner.StepRange())))
					continue
				}
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
			layer = &ir.Layer{Name: l.mask(lowered.name), Steps: []ir.Step{lowered.step}, NoCache: lowered.noCache, CreatedBy: l.mask(lowered.createdBy), Origin: origin(step.StepRange())}
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

func addVars(cfg *lang.Config, layer *ir.Layer, vars []string) {
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

func parsePlatform(s string) (ir.Platform, error) {
	if err := lang.ValidatePlatform(s); err != nil {
		return ir.Platform{}, err
	}
	parts := strings.Split(s, "/")
	p := ir.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

func (l *lowerer) base(st *lang.Stage) ir.Base {
	f := st.From
	o := origin(f.Range)
	switch {
	case f.Stage != "":
		return ir.Base{Kind: ir.BaseTarget, Target: f.Stage, Origin: o}
	case f.Scratch || f.Ref == "scratch":
		return ir.Base{Kind: ir.BaseScratch, Origin: o}
	case f.Ref == "" && f.Reported:
		return ir.Base{Kind: ir.BaseScratch, Origin: o}
	case f.Ref == "":
		l.diags = append(l.diags, errorDiag("Missing base", fmt.Sprintf("The %s %q has no `from`. Every stage and image starts from a base: an image reference, a stage, or \"scratch\".", st.Kind, st.Name), subject(st.DeclRange)))
		return ir.Base{Kind: ir.BaseScratch, Origin: o}
	}
	b, err := parseRef(f.Ref, l.dir)
	if err != nil {
		l.diags = append(l.diags, errorDiag("Invalid image reference", fmt.Sprintf("%v. Write NAME[:TAG][@DIGEST], oci:PATH[:TAG], docker-archive:PATH, scratch, or a stage reference such as stage.build.", err), subject(f.Range)))
		return ir.Base{Kind: ir.BaseScratch, Origin: o}
	}
	b.Origin = o
	return b
}

// refTarget returns the name of the target standing for an image
// reference that a step copies or mounts from, making it on first use.
func (l *lowerer) refTarget(ref string, r hcl.Range) string {
	b, err := parseRef(ref, l.dir)
	if err != nil {
		l.diags = append(l.diags, errorDiag("Invalid image reference", fmt.Sprintf("%v. Write NAME[:TAG][@DIGEST], oci:PATH[:TAG] or docker-archive:PATH.", err), subject(r)))
		return ""
	}
	name := b.Ref
	if b.Kind == ir.BaseOCILayout || b.Kind == ir.BaseDockerArchive {
		name = string(b.Kind) + ":" + b.Ref
	}
	if b.Kind == ir.BaseScratch {
		name = "scratch"
	}
	if _, ok := l.refs[name]; !ok {
		b.Origin = origin(r)
		t := &ir.Target{Name: name, Kind: ir.KindStage, Base: b, Platform: l.platform, Origin: origin(r)}
		l.refs[name] = t
		l.pending = append(l.pending, t)
	}
	return name
}

// stageCtx is what a stage's steps inherit.
type stageCtx struct {
	env     []lang.EnvVar
	workdir string // absolute, or "" when neither the stage nor its base target sets one
	user    string
	shell   []string
}

func (l *lowerer) stageContext(st *lang.Stage, t *ir.Target) stageCtx {
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

func envList(base, over []lang.EnvVar) []string {
	var out []string
	idx := map[string]int{}
	for _, list := range [][]lang.EnvVar{base, over} {
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

func (l *lowerer) step(sc stageCtx, step lang.Step, dependsOn map[string]bool) lowered {
	switch s := step.(type) {
	case *lang.Run:
		return l.run(sc, s, dependsOn)
	case *lang.Copy:
		return l.copyStep(sc, s, dependsOn)
	case *lang.Add:
		return l.add(sc, s)
	}
	l.diags = append(l.diags, errorDiag("Unknown step", fmt.Sprintf("The compiler does not know the step type %T. This is a bug in imgc; please report it.", step), subject(step.StepRange())))
	return lowered{}
}

func (l *lowerer) run(sc stageCtx, s *lang.Run, dependsOn map[string]bool) lowered {
	var env []string
	if l.envTotal += len(sc.env) + len(s.Env); l.envTotal <= MaxStepEnv {
		env = envList(sc.env, s.Env)
	} else if l.envTotal-len(sc.env)-len(s.Env) <= MaxStepEnv {
		l.diags = append(l.diags, errorDiag("Too many environment variables",
			fmt.Sprintf("The run steps up to this one carry more than %d environment variables in all: each step gets its stage's whole environment. Set variables only some steps need on those steps, or split the stage.", MaxStepEnv),
			subject(s.StepRange())))
	}
	r := &ir.Run{
		Env:      env,
		Workdir:  sc.workdir,
		User:     sc.user,
		Network:  ir.NetworkDefault,
		Reads:    s.Reads,
		Writes:   s.Writes,
		CacheKey: s.CacheKey,
		Origin:   origin(s.Range),
	}
	if s.Workdir != "" {
		r.Workdir = joinDir(sc.workdir, s.Workdir)
	}
	if s.User != "" {
		r.User = s.User
	}
	switch s.Network {
	case "", "default":
	case "none":
		r.Network = ir.NetworkNone
	case "host":
		r.Network = ir.NetworkHost
	default:
		l.diags = append(l.diags, errorDiag("Invalid network mode", fmt.Sprintf("The network mode %q is not one of default, none and host. Use one of those.", s.Network), subject(s.Range)))
	}
	var created string
	if s.IsExec || (s.Exec != nil && s.Sh == "") {
		if len(s.Exec) == 0 {
			l.diags = append(l.diags, errorDiag("Empty command", "A run step's exec list must name a program. Give exec a non-empty list, or use sh.", subject(s.Range)))
			return lowered{}
		}
		r.Argv = append([]string(nil), s.Exec...)
		created = "RUN " + jsonList(s.Exec)
	} else {
		shell := s.Shell
		if shell == nil {
			shell = sc.shell
		}
		if len(shell) == 0 {
			shell = defaultShell
		}
		r.Shell, r.Command = true, s.Sh
		r.Argv = append(append([]string(nil), shell...), s.Sh)
		created = "RUN " + s.Sh
	}
	for _, m := range s.Mounts {
		im, ok := l.mount(m, dependsOn)
		if ok {
			r.Mounts = append(r.Mounts, im)
		}
	}
	name := strings.Join(r.Argv, " ")
	if r.Shell {
		name = r.Command
	}
	layerName := macroName(s.Macro, "run "+clipName(firstLine(name)))
	if s.MacroLabel != "" {
		layerName = clipName(s.MacroLabel)
	}
	return lowered{step: r, name: layerName, createdBy: created, noCache: s.NoCache, vars: s.Vars}
}

func (l *lowerer) mount(m lang.Mount, dependsOn map[string]bool) (ir.Mount, bool) {
	im := ir.Mount{
		Type: ir.MountType(m.Type), Target: m.Target, ID: m.ID, Sharing: m.Sharing, Source: m.Source,
		ReadOnly: m.ReadOnly, Required: m.Required, Env: m.Env, Mode: m.Mode, UID: m.UID, GID: m.GID, Size: m.Size,
	}
	switch im.Type {
	case ir.MountCache, ir.MountSecret, ir.MountBind, ir.MountTmpfs:
	default:
		l.diags = append(l.diags, errorDiag("Unknown mount type", fmt.Sprintf("The mount type %q is not one of cache, secret, bind and tmpfs. Use one of those.", m.Type), subject(m.Range)))
		return im, false
	}
	if im.Type == ir.MountCache && im.Sharing == "" {
		im.Sharing = "shared"
	}
	if im.Type == ir.MountCache && im.ID == "" {
		im.ID = m.Target
	}
	if im.Target == "" && !(im.Type == ir.MountSecret && im.Env != "") {
		if im.Type == ir.MountSecret {
			im.Target = "/run/secrets/" + im.ID
		} else {
			l.diags = append(l.diags, errorDiag("Mount without target", fmt.Sprintf("A %s mount needs a target: the path where it appears in the container. Set target.", m.Type), subject(m.Range)))
			return im, false
		}
	}
	switch {
	case m.FromStage != "":
		im.FromTarget = m.FromStage
	case m.FromRef != "":
		im.FromTarget = l.refTarget(m.FromRef, m.Range)
	}
	if im.FromTarget != "" {
		dependsOn[im.FromTarget] = true
	}
	return im, true
}

func (l *lowerer) copyStep(sc stageCtx, s *lang.Copy, dependsOn map[string]bool) lowered {
	c := &ir.Copy{
		Sources: s.Src, Dest: joinDest(sc.workdir, s.Dest), Exclude: s.Exclude, Chown: s.Chown, Chmod: s.Chmod,
		Link: s.Link, Parents: s.Parents, Origin: origin(s.Range),
	}
	if len(s.Src) == 0 {
		l.diags = append(l.diags, errorDiag("Copy without source", "A copy step needs at least one source in src. Name the files or directories to copy.", subject(s.Range)))
		return lowered{}
	}
	if s.Dest == "" {
		l.diags = append(l.diags, errorDiag("Copy without destination", "A copy step needs dest, the path in the image to copy to. Set dest; end it with \"/\" for a directory.", subject(s.Range)))
		return lowered{}
	}
	from := ""
	switch {
	case s.FromStage != "":
		c.FromTarget = s.FromStage
	case s.FromRef != "":
		c.FromTarget = l.refTarget(s.FromRef, s.Range)
	default:
		c.Context = l.context
	}
	if c.FromTarget != "" {
		dependsOn[c.FromTarget] = true
		from = "--from=" + c.FromTarget + " "
	}
	return lowered{
		step:      c,
		name:      macroName(s.Macro, "copy "+clipName(strings.Join(s.Src, " "))),
		createdBy: "COPY " + from + strings.Join(s.Src, " ") + " " + c.Dest,
		vars:      s.Vars,
	}
}

func (l *lowerer) add(sc stageCtx, s *lang.Add) lowered {
	a := &ir.Add{
		URL: s.URL, Checksum: s.Checksum, Sources: s.Src, Dest: joinDest(sc.workdir, s.Dest), Extract: s.Extract,
		Chown: s.Chown, Chmod: s.Chmod, Link: s.Link, Exclude: s.Exclude, Origin: origin(s.Range),
	}
	if (s.URL == "") == (len(s.Src) == 0) {
		l.diags = append(l.diags, errorDiag("Add needs one source kind", "An add step takes either url or src, not both and not neither. Set exactly one of them.", subject(s.Range)))
		return lowered{}
	}
	if s.Dest == "" {
		l.diags = append(l.diags, errorDiag("Add without destination", "An add step needs dest, the path in the image to add to. Set dest; end it with \"/\" for a directory.", subject(s.Range)))
		return lowered{}
	}
	what := s.URL
	if s.URL == "" {
		a.Context = l.context
		what = strings.Join(s.Src, " ")
	}
	return lowered{step: a, name: "add " + clipName(what), createdBy: "ADD " + what + " " + a.Dest, vars: s.Vars}
}

func imageConfig(st *lang.Stage, sc stageCtx) ir.ImageConfig {
	c := ir.ImageConfig{Workdir: sc.workdir, User: st.User, Shell: sc.shell}
	var over []lang.EnvVar
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
	c.ExposedPorts = cfg.Expose
	c.Volumes = cfg.Volumes
	c.StopSignal = cfg.StopSignal
	c.OnBuild = cfg.OnBuild
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
func macroName(macro, name string) string {
	if macro == "" {
		return name
	}
	return macro + ": " + name
}

// sentence ends an error message with a period.
func sentence(s string) string {
	if s != "" && !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// clipName shortens a derived layer name to 40 characters.
func clipName(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 40 {
		return string(r[:39]) + "…"
	}
	return s
}
