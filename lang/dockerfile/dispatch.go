package dockerfile

import (
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/imgc-dev/imgc/internal/configvalue"
	"github.com/imgc-dev/imgc/model"
)

var defaultShell = []string{"/bin/sh", "-c"}

// dispatch reads one instruction of stage s, as BuildKit's dispatcher
// does: each instruction has its function.
func (rd *reader) dispatch(s *stageState, pn parsedNode) {
	rng := pn.rng
	steps := len(s.st.Steps)
	defer rd.settleMkdir(s, steps)
	switch c := pn.cmd.(type) {
	case *instructions.EnvCommand:
		rd.env(s, rng, c)
	case *instructions.ArgCommand:
		rd.stageArg(s, rng, c)
	case *instructions.RunCommand:
		rd.runCmd(s, rng, c)
	case *instructions.CopyCommand:
		rd.copyCmd(s, rng, c)
	case *instructions.AddCommand:
		rd.addCmd(s, rng, c)
	case *instructions.WorkdirCommand:
		rd.workdir(s, rng, c)
	case *instructions.UserCommand:
		rd.user(s, rng, c)
	case *instructions.ShellCommand:
		rd.shell(s, c)
	case *instructions.CmdCommand:
		rd.cmd(s, pn, c)
	case *instructions.EntrypointCommand:
		rd.entrypoint(s, pn, c)
	case *instructions.ExposeCommand:
		rd.expose(s, pn, c)
	case *instructions.VolumeCommand:
		rd.volume(s, pn, c)
	case *instructions.LabelCommand:
		rd.label(s, pn, c)
	case *instructions.MaintainerCommand:
		rd.maintainer(s, pn, c)
	case *instructions.StopSignalCommand:
		rd.stopSignal(s, pn, c)
	case *instructions.HealthCheckCommand:
		rd.healthcheck(s, pn, c)
	case *instructions.OnbuildCommand:
		rd.onbuild(s, pn, c)
	default:
		rd.errorf(rng, "Unsupported instruction", "imgc does not import the %s instruction yet. Remove it or express it with RUN.", strings.ToUpper(pn.node.Value))
	}
}

// configInstruction records an instruction that sets the image config,
// for the origins plan shows, and returns the config.
func (s *stageState) configInstruction(pn parsedNode) *configForm {
	s.cfg.Instructions = append(s.cfg.Instructions, model.ConfigInstruction{Name: strings.ToUpper(pn.node.Value), Range: pn.rng})
	s.cfgUsed = true
	return &s.cfg
}

func (rd *reader) workdir(s *stageState, rng hcl.Range, c *instructions.WorkdirCommand) {
	x, _ := rd.expand(s, rng, c.Path)
	if isWindowsPath(x.Value) {
		rd.errorf(rng, "Windows path", "The WORKDIR %q is a Windows path; imgc builds Linux images only. Use a Linux path such as /app.", x.Value)
		return
	}
	if !path.IsAbs(x.Value) && strings.HasPrefix(x.Value, "$") {
		// A variable of the base image ($HOME): the runtime expands it
		// against the base image's env. Written as an absolute path, so
		// nothing joins it to the previous WORKDIR; the runtime starts
		// the path at a reference that expands to an absolute path.
		s.workdir, s.workdirTmpl = "/"+x.Value, "/"+x.Tmpl
		s.workdirKnown = true
	} else {
		if !path.IsAbs(x.Value) && !s.workdirKnown {
			rd.warnf(rng, "Relative WORKDIR", "The WORKDIR %q is relative, and imgc resolves it against /, not the base image's working directory (Docker uses the base's WORKDIR, as golang's /go). Use an absolute path.", x.Value)
		}
		base := expansion{Value: s.workdir, Tmpl: s.workdirTmpl}
		s.workdir = resolveWorkdir(s.workdir, x.Value)
		s.workdirTmpl = rd.joinedTmpl(rng, "WORKDIR", s.workdir, base, x)
		s.workdirKnown = true
	}
	if !s.stepped {
		s.baseWorkdir = s.workdir
		s.st.Workdir = s.workdirText()
	}
	rd.workdirMkdir(s, rng)
}

func (rd *reader) user(s *stageState, rng hcl.Range, c *instructions.UserCommand) {
	x, _ := rd.expand(s, rng, c.User)
	if err := model.ValidateUser(x.Value); err != nil {
		rd.errorf(rng, "Invalid user", "%s Give a smaller numeric id, or a user name.", sentence(err.Error()))
	}
	s.user, s.userTmpl = x.Value, x.Tmpl
	if !s.stepped {
		s.baseUser = x.Value
		s.st.User = textOf(x)
	}
}

func (rd *reader) shell(s *stageState, c *instructions.ShellCommand) {
	s.shell = append([]string(nil), c.Shell...)
	s.shellSet = true
	if !s.stepped {
		s.st.Shell = s.shell
		s.baseShell = s.shell
	}
}

func (rd *reader) cmd(s *stageState, pn parsedNode, c *instructions.CmdCommand) {
	cfg := s.configInstruction(pn)
	cfg.Cmd = rd.withShell(s, pn.rng, c.ShellDependantCmdLine)
	cfg.CmdSet = true
	s.cmdSet = true
}

func (rd *reader) entrypoint(s *stageState, pn parsedNode, c *instructions.EntrypointCommand) {
	cfg := s.configInstruction(pn)
	cfg.Entrypoint = rd.withShell(s, pn.rng, c.ShellDependantCmdLine)
	cfg.EntrypointSet = true
	// Without a CMD in this stage, ENTRYPOINT clears the base's: an
	// entrypoint without cmd does (engine/imageconfig), as in HCL.
	if !s.cmdSet {
		cfg.Cmd, cfg.CmdSet = nil, false
	}
}

func (rd *reader) expose(s *stageState, pn parsedNode, c *instructions.ExposeCommand) {
	cfg := s.configInstruction(pn)
	for _, p := range c.Ports {
		x, ok := rd.expand(s, pn.rng, p)
		if !ok {
			continue
		}
		if len(x.Unset) > 0 {
			// A variable only the base image sets: the engine expands
			// and checks the ports (EXPOSE $PORT).
			if t := baseText(x); indexOf(cfg.Expose, t.Value) < 0 {
				cfg.Expose = append(cfg.Expose, t)
			}
			continue
		}
		for _, word := range strings.Fields(x.Value) {
			ports, err := configvalue.Ports(word)
			if err != nil {
				rd.errorf(pn.rng, "Invalid port", "%s Write ports as PORT, PORT/PROTO or FIRST-LAST/PROTO.", sentence(err.Error()))
				continue
			}
			for _, port := range ports {
				if indexOf(cfg.Expose, port) < 0 {
					cfg.Expose = append(cfg.Expose, lit(port))
				}
			}
			if len(ports) == 1 && x.Value == word {
				if t := textOf(expansion{Value: ports[0], Tmpl: exposeTmpl(x, ports[0])}); t.Tmpl != "" {
					cfg.Expose[indexOf(cfg.Expose, ports[0])] = t
				}
			} else {
				rd.lostTemplate(pn.rng, "EXPOSE", x)
			}
		}
	}
}

func (rd *reader) volume(s *stageState, pn parsedNode, c *instructions.VolumeCommand) {
	cfg := s.configInstruction(pn)
	for _, v := range c.Volumes {
		x, _ := rd.expand(s, pn.rng, v)
		if x.Value == "" {
			rd.errorf(pn.rng, "Empty volume", "VOLUME paths cannot be empty. Remove the empty entry.")
			continue
		}
		if t := baseText(x); indexOf(cfg.Volumes, t.Value) < 0 {
			cfg.Volumes = append(cfg.Volumes, t)
		}
	}
}

func (rd *reader) label(s *stageState, pn parsedNode, c *instructions.LabelCommand) {
	cfg := s.configInstruction(pn)
	var keys []string
	names := map[string]struct{}{}
	for _, kv := range c.Labels {
		k, _ := rd.expand(s, pn.rng, kv.Key)
		v, _ := rd.expand(s, pn.rng, kv.Value)
		if cfg.Labels == nil {
			cfg.Labels = map[string]text{}
		}
		delete(cfg.BaseEnvLabels, k.Value)
		if len(v.Unset) == 0 {
			cfg.Labels[k.Value] = textOf(v)
			continue
		}
		cfg.Labels[k.Value] = baseText(v)
		if cfg.BaseEnvLabels == nil {
			cfg.BaseEnvLabels = map[string]bool{}
		}
		cfg.BaseEnvLabels[k.Value] = true
		keys = append(keys, k.Value)
		maps.Copy(names, v.Unset)
	}
	if len(keys) > 0 {
		rd.convertWarnf(pn.rng, "Label of the base image's variables", "LABEL %s: %s %s, which this Dockerfile does not set, so a build takes %s from the base image's environment. An HCL label is literal: the conversion keeps the %s as written. Set the %s in the configuration.",
			strings.Join(keys, ", "), plural(len(names), "the variable", "the variables"), strings.Join(slices.Sorted(maps.Keys(names)), ", "),
			plural(len(names), "it", "them"), plural(len(names), "reference", "references"), plural(len(keys), "value", "values"))
	}
}

func (rd *reader) maintainer(s *stageState, pn parsedNode, c *instructions.MaintainerCommand) {
	// BuildKit sets the config file's author (no label), as the classic
	// builder did; the word is not expanded.
	cfg := s.configInstruction(pn)
	cfg.Author = lit(c.Maintainer)
}

func (rd *reader) stopSignal(s *stageState, pn parsedNode, c *instructions.StopSignalCommand) {
	cfg := s.configInstruction(pn)
	x, _ := rd.expand(s, pn.rng, c.Signal)
	if len(x.Unset) == 0 {
		// Else a variable only the base image sets: the engine
		// expands and checks the signal.
		if err := model.ValidateStopSignal(x.Value); err != nil {
			rd.errorf(pn.rng, "Invalid stop signal", "%s", sentence(err.Error()))
		}
	}
	cfg.StopSignal = baseText(x)
}

func (rd *reader) healthcheck(s *stageState, pn parsedNode, c *instructions.HealthCheckCommand) {
	cfg := s.configInstruction(pn)
	h := c.Health
	cfg.Healthcheck = &model.Healthcheck{
		Test:          append([]string(nil), h.Test...),
		Interval:      duration(h.Interval),
		Timeout:       duration(h.Timeout),
		StartPeriod:   duration(h.StartPeriod),
		StartInterval: duration(h.StartInterval),
		Retries:       h.Retries,
	}
}

func (rd *reader) onbuild(s *stageState, pn parsedNode, c *instructions.OnbuildCommand) {
	cfg := s.configInstruction(pn)
	cfg.OnBuild = append(cfg.OnBuild, c.Expression)
}

// joinedTmpl is the template of a path that resolving x against the
// working directory made longer: the added prefix, then x's template.
func (rd *reader) joinedTmpl(rng hcl.Range, what, resolved string, base, x expansion) string {
	if base.Tmpl != "" && base.Tmpl != quoteLit(base.Value) {
		for _, sep := range []string{"/", ""} {
			if base.Value+sep+x.Value == resolved {
				return base.Tmpl + sep + x.Tmpl
			}
		}
	}
	literal := x.Tmpl == "" || x.Tmpl == quoteLit(x.Value)
	if literal && base.Tmpl != "" && base.Tmpl != quoteLit(base.Value) && !hasDotDot(x.Value) {
		// A literal path under a computed one (COPY x ./ under WORKDIR
		// /opt/${V}): the computed one's template, then the rest.
		if rest, ok := strings.CutPrefix(resolved, base.Value); ok && (rest == "" || rest[0] == '/') {
			return base.Tmpl + quoteLit(rest)
		}
	}
	if literal {
		return quoteLit(resolved)
	}
	if strings.HasSuffix(resolved, x.Value) {
		return quoteLit(strings.TrimSuffix(resolved, x.Value)) + x.Tmpl
	}
	// An absolute path that resolving only stripped of its trailing
	// slashes (WORKDIR /opt/${V}/lib/): the template without them.
	v, t := x.Value, x.Tmpl
	for len(v) > 1 && strings.HasSuffix(v, "/") && strings.HasSuffix(t, "/") {
		v, t = v[:len(v)-1], t[:len(t)-1]
	}
	if path.IsAbs(v) && v == resolved {
		return t
	}
	rd.lostTemplate(rng, what, x)
	return quoteLit(resolved)
}

// hasDotDot reports whether a path has a ".." element.
func hasDotDot(p string) bool {
	for _, e := range strings.Split(p, "/") {
		if e == ".." {
			return true
		}
	}
	return false
}

// lostTemplate warns, for a conversion, that a value computed from ARGs
// becomes a constant in the HCL.
func (rd *reader) lostTemplate(rng hcl.Range, what string, x expansion) {
	if x.Tmpl == "" || x.Tmpl == quoteLit(x.Value) {
		return
	}
	rd.convertWarnf(rng, "Variable reference not kept", "The %s uses %s, but its converted value is the constant %q, so --var no longer changes it. Edit the converted file to use the variable if you need to.", what, strings.Join(x.Matched, ", "), x.Value)
}

func exposeTmpl(x expansion, port string) string {
	if strings.Contains(x.Value, "/") {
		return x.Tmpl
	}
	return x.Tmpl + "/tcp"
}

func indexOf(list []text, v string) int {
	for i, s := range list {
		if s.Value == v {
			return i
		}
	}
	return -1
}

func duration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func isWindowsPath(p string) bool {
	return len(p) >= 2 && p[1] == ':' && (p[0]|0x20) >= 'a' && (p[0]|0x20) <= 'z'
}

// withShell gives CMD/ENTRYPOINT their final argv: the shell form runs
// through the stage's SHELL like BuildKit's withShell.
func (rd *reader) withShell(s *stageState, rng hcl.Range, c instructions.ShellDependantCmdLine) []string {
	args := append([]string(nil), c.CmdLine...)
	if len(c.Files) > 0 {
		rd.errorf(rng, "Heredoc in CMD or ENTRYPOINT", "imgc does not support heredocs in CMD or ENTRYPOINT. Write the command in JSON form.")
	}
	if !c.PrependShell {
		if args == nil {
			args = []string{}
		}
		return args
	}
	sh := s.shell
	if len(sh) == 0 {
		sh = defaultShell
	}
	return append(append([]string(nil), sh...), args...)
}

func (rd *reader) env(s *stageState, rng hcl.Range, c *instructions.EnvCommand) {
	var names []string
	for _, kv := range c.Env {
		names = append(names, kv.Key)
	}
	s.cfg.Instructions = append(s.cfg.Instructions, model.ConfigInstruction{Name: "ENV", Env: names, Range: rng})
	// `ENV A=2 B=$A` gives B the value A had before this ENV, as in Docker.
	before := s.expandEnv()
	if len(c.Env) > 1 {
		before = before.clone()
	}
	for _, kv := range c.Env {
		k, _ := rd.expandIn(s, rng, kv.Key, before)
		v, _ := rd.expandIn(s, rng, kv.Value, before)
		e := envEntry{Name: k.Value, Value: v.Value, Tmpl: v.Tmpl, Unset: v.Unset}
		s.env = s.env.set(e)
		s.imageEnv = s.imageEnv.set(e)
		if s.stepped {
			continue
		}
		if s.stEnv == nil {
			s.stEnv = map[string]int{}
		}
		if i, ok := s.stEnv[e.Name]; ok {
			s.st.Env[i].text = e.text()
		} else {
			s.stEnv[e.Name] = len(s.st.Env)
			s.st.Env = append(s.st.Env, envText{Name: e.Name, text: e.text()})
		}
	}
}

// stageArg follows BuildKit's dispatchArg: a build argument wins, then the
// default, then the value of the same global ARG.
func (rd *reader) stageArg(s *stageState, rng hcl.Range, c *instructions.ArgCommand) {
	for _, kv := range c.Args {
		name := kv.Key
		s.args[name] = true
		var e envEntry
		set, derived := false, ""
		bv, hasValue := rd.opts.BuildArgs[name]
		if hasValue {
			rd.usedArgs[name] = true
		}
		switch {
		case kv.Value == nil && !hasValue:
			if g, ok := rd.global.get(name); ok {
				e, set = g, true
				rd.usedArgs[name] = true
			} else if g, ok := rd.globalUnset.get(name); ok {
				// The global ARG's variable, null unless given.
				e, set = g, true
			}
		case hasValue:
			e, set = envEntry{Name: name, Value: bv, Tmpl: quoteLit(bv)}, true
		default:
			x, ok := rd.expand(s, rng, *kv.Value)
			if !ok {
				continue
			}
			e, set = envEntry{Name: name, Value: x.Value, Unset: x.Unset}, true
			derived = rd.derived(rng, name, x)
		}
		switch {
		case kv.Value == nil && set:
			// The global variable's reference, already in e.Tmpl.
		case set:
			e.Tmpl = rd.f.declare(argDecl{Arg: name, Stage: s.st.Name, Default: e.Value, Derived: derived, Range: rng})
		default:
			// Docker leaves it unset: a variable that defaults to null.
			e, set = envEntry{Name: name, Null: true}, true
			e.Tmpl = rd.f.declare(argDecl{Arg: name, Stage: s.st.Name, Range: rng, Null: true})
		}
		if set {
			s.env = s.env.set(e)
			rd.f.args[name] = e.Value
		} else if _, ok := rd.f.args[name]; !ok {
			rd.f.args[name] = ""
		}
	}
}

func (rd *reader) stepSettings(s *stageState, r *runForm) {
	// Each RUN gets the whole environment: n ENV and n RUN lines make n²
	// variables, bounded here before they are made.
	work := s.env.len() + s.baseEnv.len() + len(s.st.Env)
	if rd.envWork += work; rd.envWork <= maxStepEnv {
		r.Env = envTexts(s.runEnv())
	} else if rd.envWork-work <= maxStepEnv {
		rd.errorf(r.Range, "Too many environment variables", "The RUN instructions up to this one carry more than %d environment variables in all: each gets every ENV and ARG before it. Use fewer ENV instructions between RUNs, or split the stage.", maxStepEnv)
	}
	if s.workdir != s.baseWorkdir {
		r.Workdir = s.workdirText()
	}
	if s.user != s.baseUser {
		r.User = s.userText()
	}
	if !equalStrings(s.shell, s.baseShell) {
		r.Shell = s.shell
	}
}

// maxStepEnv bounds the environment variables of all RUN steps together
// (as compiler.MaxStepEnv does for configurations).
const maxStepEnv = 1 << 20

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
