package dockerfile

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/imgc-dev/imgc/model"
)

var defaultShell = []string{"/bin/sh", "-c"}

// dispatch reads one instruction of stage s, as BuildKit's dispatcher
// does: each instruction has its function.
func (im *reader) dispatch(s *stageState, pn parsedNode) {
	rng := pn.rng
	switch c := pn.cmd.(type) {
	case *instructions.EnvCommand:
		im.env(s, rng, c)
	case *instructions.ArgCommand:
		im.stageArg(s, rng, c)
	case *instructions.RunCommand:
		im.runCmd(s, rng, c)
	case *instructions.CopyCommand:
		im.copyCmd(s, rng, c)
	case *instructions.AddCommand:
		im.addCmd(s, rng, c)
	case *instructions.WorkdirCommand:
		im.workdir(s, rng, c)
	case *instructions.UserCommand:
		im.user(s, rng, c)
	case *instructions.ShellCommand:
		im.shell(s, c)
	case *instructions.CmdCommand:
		im.cmd(s, pn, c)
	case *instructions.EntrypointCommand:
		im.entrypoint(s, pn, c)
	case *instructions.ExposeCommand:
		im.expose(s, pn, c)
	case *instructions.VolumeCommand:
		im.volume(s, pn, c)
	case *instructions.LabelCommand:
		im.label(s, pn, c)
	case *instructions.MaintainerCommand:
		im.maintainer(s, pn, c)
	case *instructions.StopSignalCommand:
		im.stopSignal(s, pn, c)
	case *instructions.HealthCheckCommand:
		im.healthcheck(s, pn, c)
	case *instructions.OnbuildCommand:
		im.onbuild(s, pn, c)
	default:
		im.errorf(rng, "Unsupported instruction", "imgc does not import the %s instruction yet. Remove it or express it with RUN.", strings.ToUpper(pn.node.Value))
	}
}

// configInstruction records an instruction that sets the image config,
// for the origins plan shows, and returns the config.
func (s *stageState) configInstruction(pn parsedNode) *configForm {
	s.cfg.Instructions = append(s.cfg.Instructions, model.ConfigInstruction{Name: strings.ToUpper(pn.node.Value), Range: pn.rng})
	s.cfgUsed = true
	return &s.cfg
}

func (im *reader) workdir(s *stageState, rng hcl.Range, c *instructions.WorkdirCommand) {
	x, _ := im.expand(s, rng, c.Path)
	if isWindowsPath(x.Value) {
		im.errorf(rng, "Windows path", "The WORKDIR %q is a Windows path; imgc builds Linux images only. Use a Linux path such as /app.", x.Value)
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
			im.warnf(rng, "Relative WORKDIR", "The WORKDIR %q is relative, and the base image's working directory is not known before it is pulled; imgc resolves it against /. Use an absolute path.", x.Value)
		}
		base := expansion{Value: s.workdir, Tmpl: s.workdirTmpl}
		s.workdir = resolveWorkdir(s.workdir, x.Value)
		s.workdirTmpl = im.joinedTmpl(rng, "WORKDIR", s.workdir, base, x)
		s.workdirKnown = true
	}
	if !s.stepped {
		s.baseWorkdir = s.workdir
		s.st.Workdir = s.workdirText()
	}
}

func (im *reader) user(s *stageState, rng hcl.Range, c *instructions.UserCommand) {
	x, _ := im.expand(s, rng, c.User)
	if err := model.ValidateUser(x.Value); err != nil {
		im.errorf(rng, "Invalid user", "%s Give a smaller numeric id, or a user name.", sentence(err.Error()))
	}
	s.user, s.userTmpl = x.Value, x.Tmpl
	if !s.stepped {
		s.baseUser = x.Value
		s.st.User = textOf(x)
	}
}

func (im *reader) shell(s *stageState, c *instructions.ShellCommand) {
	s.shell = append([]string(nil), c.Shell...)
	s.shellSet = true
	if !s.stepped {
		s.st.Shell = s.shell
		s.baseShell = s.shell
	}
}

func (im *reader) cmd(s *stageState, pn parsedNode, c *instructions.CmdCommand) {
	cfg := s.configInstruction(pn)
	cfg.Cmd = im.withShell(s, pn.rng, c.ShellDependantCmdLine)
	cfg.CmdSet = true
	s.cmdSet = true
}

func (im *reader) entrypoint(s *stageState, pn parsedNode, c *instructions.EntrypointCommand) {
	cfg := s.configInstruction(pn)
	cfg.Entrypoint = im.withShell(s, pn.rng, c.ShellDependantCmdLine)
	cfg.EntrypointSet = true
	if !s.cmdSet {
		cfg.Cmd = []string{}
		cfg.CmdSet = true
	}
}

func (im *reader) expose(s *stageState, pn parsedNode, c *instructions.ExposeCommand) {
	cfg := s.configInstruction(pn)
	for _, p := range c.Ports {
		x, ok := im.expand(s, pn.rng, p)
		if !ok {
			continue
		}
		for _, word := range strings.Fields(x.Value) {
			ports, err := exposedPorts(word)
			if err != nil {
				im.errorf(pn.rng, "Invalid port", "%s Write ports as PORT, PORT/PROTO or FIRST-LAST/PROTO.", sentence(err.Error()))
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
				im.lostTemplate(pn.rng, "EXPOSE", x)
			}
		}
	}
}

func (im *reader) volume(s *stageState, pn parsedNode, c *instructions.VolumeCommand) {
	cfg := s.configInstruction(pn)
	for _, v := range c.Volumes {
		x, _ := im.expand(s, pn.rng, v)
		if x.Value == "" {
			im.errorf(pn.rng, "Empty volume", "VOLUME paths cannot be empty. Remove the empty entry.")
			continue
		}
		if indexOf(cfg.Volumes, x.Value) < 0 {
			cfg.Volumes = append(cfg.Volumes, textOf(x))
		}
	}
}

func (im *reader) label(s *stageState, pn parsedNode, c *instructions.LabelCommand) {
	cfg := s.configInstruction(pn)
	for _, kv := range c.Labels {
		k, _ := im.expand(s, pn.rng, kv.Key)
		v, _ := im.expand(s, pn.rng, kv.Value)
		if cfg.Labels == nil {
			cfg.Labels = map[string]text{}
		}
		cfg.Labels[k.Value] = textOf(v)
	}
}

func (im *reader) maintainer(s *stageState, pn parsedNode, c *instructions.MaintainerCommand) {
	cfg := s.configInstruction(pn)
	if cfg.Labels == nil {
		cfg.Labels = map[string]text{}
	}
	cfg.Labels["maintainer"] = lit(c.Maintainer)
}

func (im *reader) stopSignal(s *stageState, pn parsedNode, c *instructions.StopSignalCommand) {
	cfg := s.configInstruction(pn)
	x, _ := im.expand(s, pn.rng, c.Signal)
	if err := model.ValidateStopSignal(x.Value); err != nil {
		im.errorf(pn.rng, "Invalid stop signal", "%s", sentence(err.Error()))
	}
	cfg.StopSignal = textOf(x)
}

func (im *reader) healthcheck(s *stageState, pn parsedNode, c *instructions.HealthCheckCommand) {
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

func (im *reader) onbuild(s *stageState, pn parsedNode, c *instructions.OnbuildCommand) {
	cfg := s.configInstruction(pn)
	cfg.OnBuild = append(cfg.OnBuild, c.Expression)
}

// joinedTmpl is the template of a path that resolving x against the
// working directory made longer: the added prefix, then x's template.
func (im *reader) joinedTmpl(rng hcl.Range, what, resolved string, base, x expansion) string {
	if base.Tmpl != "" && base.Tmpl != quoteLit(base.Value) {
		for _, sep := range []string{"/", ""} {
			if base.Value+sep+x.Value == resolved {
				return base.Tmpl + sep + x.Tmpl
			}
		}
	}
	if x.Tmpl == "" || x.Tmpl == quoteLit(x.Value) {
		return quoteLit(resolved)
	}
	if strings.HasSuffix(resolved, x.Value) {
		return quoteLit(strings.TrimSuffix(resolved, x.Value)) + x.Tmpl
	}
	im.lostTemplate(rng, what, x)
	return quoteLit(resolved)
}

// lostTemplate warns, for a conversion, that a value computed from ARGs
// becomes a constant in the HCL.
func (im *reader) lostTemplate(rng hcl.Range, what string, x expansion) {
	if x.Tmpl == "" || x.Tmpl == quoteLit(x.Value) {
		return
	}
	im.convertWarnf(rng, "Variable reference not kept", "The %s uses %s, but its converted value is the constant %q, so --var no longer changes it. Edit the converted file to use the variable if you need to.", what, strings.Join(x.Matched, ", "), x.Value)
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

// exposedPorts normalises one EXPOSE word like BuildKit: "80" is
// "80/tcp" and a range becomes one entry per port.
func exposedPorts(word string) ([]string, error) {
	port, proto, hasProto := strings.Cut(word, "/")
	if !hasProto || proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if i := strings.LastIndex(port, ":"); i >= 0 {
		port = port[i+1:]
	}
	first, last, isRange := strings.Cut(port, "-")
	start, err := strconv.Atoi(first)
	if err != nil || start < 1 || start > 65535 {
		return nil, fmt.Errorf("invalid port %q", word)
	}
	end := start
	if isRange {
		end, err = strconv.Atoi(last)
		if err != nil || end < start || end > 65535 {
			return nil, fmt.Errorf("invalid port range %q", word)
		}
	}
	var out []string
	for p := start; p <= end; p++ {
		out = append(out, strconv.Itoa(p)+"/"+proto)
	}
	return out, nil
}

// withShell gives CMD/ENTRYPOINT their final argv: the shell form runs
// through the stage's SHELL like BuildKit's withShell.
func (im *reader) withShell(s *stageState, rng hcl.Range, c instructions.ShellDependantCmdLine) []string {
	args := append([]string(nil), c.CmdLine...)
	if len(c.Files) > 0 {
		im.errorf(rng, "Heredoc in CMD or ENTRYPOINT", "imgc does not support heredocs in CMD or ENTRYPOINT. Write the command in JSON form.")
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

func (im *reader) env(s *stageState, rng hcl.Range, c *instructions.EnvCommand) {
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
		k, _ := im.expandIn(s, rng, kv.Key, before)
		v, _ := im.expandIn(s, rng, kv.Value, before)
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
func (im *reader) stageArg(s *stageState, rng hcl.Range, c *instructions.ArgCommand) {
	for _, kv := range c.Args {
		name := kv.Key
		s.args[name] = true
		var e envEntry
		set := false
		bv, hasValue := im.opts.BuildArgs[name]
		if hasValue {
			im.usedArgs[name] = true
		}
		switch {
		case kv.Value == nil && !hasValue:
			if g, ok := im.global.get(name); ok {
				e, set = g, true
				im.usedArgs[name] = true
			}
		case hasValue:
			e, set = envEntry{Name: name, Value: bv, Tmpl: quoteLit(bv)}, true
		default:
			x, ok := im.expand(s, rng, *kv.Value)
			if !ok {
				continue
			}
			e, set = envEntry{Name: name, Value: x.Value, Unset: x.Unset}, true
			im.noteDerived(rng, name, x)
		}
		switch {
		case kv.Value == nil && set:
			// The global variable's reference, already in e.Tmpl.
		case set:
			e.Tmpl = im.f.declare(argDecl{Arg: name, Stage: s.st.Name, Default: e.Value, Range: rng})
		default:
			im.convertWarnf(rng, "ARG without a value", "ARG %s has no default and no value, so Docker leaves it unset; the conversion leaves it out of the steps' env. Give it a default if the steps need it.", name)
		}
		if set {
			s.env = s.env.set(e)
			im.f.args[name] = e.Value
		} else if _, ok := im.f.args[name]; !ok {
			im.f.args[name] = ""
		}
	}
}

func (im *reader) stepSettings(s *stageState, r *runForm) {
	// Each RUN gets the whole environment: n ENV and n RUN lines make n²
	// variables, bounded here before they are made.
	work := s.env.len() + s.baseEnv.len() + len(s.st.Env)
	if im.envWork += work; im.envWork <= maxStepEnv {
		r.Env = envTexts(s.runEnv())
	} else if im.envWork-work <= maxStepEnv {
		im.errorf(r.Range, "Too many environment variables", "The RUN instructions up to this one carry more than %d environment variables in all: each gets every ENV and ARG before it. Use fewer ENV instructions between RUNs, or split the stage.", maxStepEnv)
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
