package dockerfile

import (
	"fmt"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/model"
)

var defaultShell = []string{"/bin/sh", "-c"}

func (im *importer) instruction(s *stageState, pn parsedNode) {
	rng := pn.rng
	switch c := pn.cmd.(type) {
	case *instructions.EnvCommand:
		var names []string
		for _, kv := range c.Env {
			names = append(names, kv.Key)
		}
		s.cfg.Instructions = append(s.cfg.Instructions, model.ConfigInstruction{Name: "ENV", Env: names, Range: rng})
	case *instructions.CmdCommand, *instructions.EntrypointCommand, *instructions.ExposeCommand, *instructions.VolumeCommand,
		*instructions.LabelCommand, *instructions.MaintainerCommand, *instructions.StopSignalCommand,
		*instructions.HealthCheckCommand, *instructions.OnbuildCommand:
		s.cfg.Instructions = append(s.cfg.Instructions, model.ConfigInstruction{Name: strings.ToUpper(pn.node.Value), Range: rng})
	}
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
			s.st.Workdir, s.baseWorkdir = s.workdir, s.workdir
			im.setTmpl(s.st, "workdir", expansion{Value: s.workdir, Tmpl: s.workdirTmpl})
		}
	case *instructions.UserCommand:
		x, _ := im.expand(s, rng, c.User)
		if err := model.ValidateUser(x.Value); err != nil {
			im.errorf(rng, "Invalid user", "%s Give a smaller numeric id, or a user name.", sentence(err.Error()))
		}
		s.user, s.userTmpl = x.Value, x.Tmpl
		if !s.stepped {
			s.st.User = x.Value
			s.baseUser = x.Value
			im.setTmpl(s.st, "user", x)
		}
	case *instructions.ShellCommand:
		s.shell = append([]string(nil), c.Shell...)
		s.shellSet = true
		if !s.stepped {
			s.st.Shell = s.shell
			s.baseShell = s.shell
		}
	case *instructions.CmdCommand:
		s.cfg.Cmd = im.withShell(s, rng, c.ShellDependantCmdLine)
		s.cfg.CmdSet = true
		s.cmdSet = true
		s.cfgUsed = true
	case *instructions.EntrypointCommand:
		s.cfg.Entrypoint = im.withShell(s, rng, c.ShellDependantCmdLine)
		s.cfg.EntrypointSet = true
		if !s.cmdSet {
			s.cfg.Cmd = []string{}
			s.cfg.CmdSet = true
		}
		s.cfgUsed = true
	case *instructions.ExposeCommand:
		for _, p := range c.Ports {
			x, ok := im.expand(s, rng, p)
			if !ok {
				continue
			}
			for _, word := range strings.Fields(x.Value) {
				ports, err := exposedPorts(word)
				if err != nil {
					im.errorf(rng, "Invalid port", "%s Write ports as PORT, PORT/PROTO or FIRST-LAST/PROTO.", sentence(err.Error()))
					continue
				}
				for _, port := range ports {
					if i := indexOf(s.cfg.Expose, port); i < 0 {
						s.cfg.Expose = append(s.cfg.Expose, port)
					}
				}
				if len(ports) == 1 && x.Value == word {
					im.setTmpl(&s.cfg, "expose."+ports[0], expansion{Value: ports[0], Tmpl: exposeTmpl(x, ports[0])})
				} else {
					im.lostTemplate(rng, "EXPOSE", x)
				}
			}
		}
		s.cfgUsed = true
	case *instructions.VolumeCommand:
		for _, v := range c.Volumes {
			x, _ := im.expand(s, rng, v)
			if x.Value == "" {
				im.errorf(rng, "Empty volume", "VOLUME paths cannot be empty. Remove the empty entry.")
				continue
			}
			if indexOf(s.cfg.Volumes, x.Value) < 0 {
				s.cfg.Volumes = append(s.cfg.Volumes, x.Value)
				im.setTmpl(&s.cfg, "volumes."+x.Value, x)
			}
		}
		s.cfgUsed = true
	case *instructions.LabelCommand:
		for _, kv := range c.Labels {
			k, _ := im.expand(s, rng, kv.Key)
			v, _ := im.expand(s, rng, kv.Value)
			if s.cfg.Labels == nil {
				s.cfg.Labels = map[string]string{}
			}
			s.cfg.Labels[k.Value] = v.Value
			im.setTmpl(&s.cfg, "labels."+k.Value, v)
		}
		s.cfgUsed = true
	case *instructions.MaintainerCommand:
		if s.cfg.Labels == nil {
			s.cfg.Labels = map[string]string{}
		}
		s.cfg.Labels["maintainer"] = c.Maintainer
		s.cfgUsed = true
	case *instructions.StopSignalCommand:
		x, _ := im.expand(s, rng, c.Signal)
		if err := model.ValidateStopSignal(x.Value); err != nil {
			im.errorf(rng, "Invalid stop signal", "%s", sentence(err.Error()))
		}
		s.cfg.StopSignal = x.Value
		im.setTmpl(&s.cfg, "stop_signal", x)
		s.cfgUsed = true
	case *instructions.HealthCheckCommand:
		h := c.Health
		s.cfg.Healthcheck = &model.Healthcheck{
			Test:          append([]string(nil), h.Test...),
			Interval:      duration(h.Interval),
			Timeout:       duration(h.Timeout),
			StartPeriod:   duration(h.StartPeriod),
			StartInterval: duration(h.StartInterval),
			Retries:       h.Retries,
		}
		s.cfgUsed = true
	case *instructions.OnbuildCommand:
		s.cfg.OnBuild = append(s.cfg.OnBuild, c.Expression)
		s.cfgUsed = true
	default:
		im.errorf(rng, "Unsupported instruction", "imgc does not import the %s instruction yet. Remove it or express it with RUN.", strings.ToUpper(pn.node.Value))
	}
}

// joinedTmpl is the template of a path that resolving x against the
// working directory made longer: the added prefix, then x's template.
func (im *importer) joinedTmpl(rng hcl.Range, what, resolved string, base, x expansion) string {
	if !im.converting {
		return ""
	}
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

// lostTemplate warns, when converting, that a value computed from ARGs
// becomes a constant in the HCL.
func (im *importer) lostTemplate(rng hcl.Range, what string, x expansion) {
	if !im.converting || x.Tmpl == "" || x.Tmpl == quoteLit(x.Value) {
		return
	}
	im.warnf(rng, "Variable reference not kept", "The %s uses %s, but its converted value is the constant %q, so --var no longer changes it. Edit the converted file to use the variable if you need to.", what, strings.Join(x.Matched, ", "), x.Value)
}

func exposeTmpl(x expansion, port string) string {
	if strings.Contains(x.Value, "/") {
		return x.Tmpl
	}
	return x.Tmpl + "/tcp"
}

func indexOf(list []string, v string) int {
	for i, s := range list {
		if s == v {
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
func (im *importer) withShell(s *stageState, rng hcl.Range, c instructions.ShellDependantCmdLine) []string {
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

func (im *importer) env(s *stageState, rng hcl.Range, c *instructions.EnvCommand) {
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
			s.st.Env[i].Value = e.model()
		} else {
			s.stEnv[e.Name] = len(s.st.Env)
			s.st.Env = append(s.st.Env, model.EnvVar{Name: e.Name, Value: e.model()})
		}
		im.setTmpl(s.st, "env."+e.Name, expansion{Value: e.model(), Tmpl: e.modelTmpl()})
	}
}

// stageArg follows BuildKit's dispatchArg: a build argument wins, then the
// default, then the value of the same global ARG.
func (im *importer) stageArg(s *stageState, rng hcl.Range, c *instructions.ArgCommand) {
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
		if im.converting {
			switch {
			case kv.Value == nil && set:
				// The global variable's reference, already in e.Tmpl.
			case set:
				v := im.vars.declare(name, s.st.Name, e.Value, rng, false)
				e.Tmpl = varRef(v.Name)
			default:
				im.warnf(rng, "ARG without a value", "ARG %s has no default and no value, so Docker leaves it unset; the conversion leaves it out of the steps' env. Give it a default if the steps need it.", name)
			}
		}
		if set {
			s.env = s.env.set(e)
			im.cfg.Vars[name] = e.Value
		} else if _, ok := im.cfg.Vars[name]; !ok {
			im.cfg.Vars[name] = ""
		}
	}
}

func (im *importer) stepSettings(s *stageState, r *model.Run) {
	// Each RUN gets the whole environment: n ENV and n RUN lines make n²
	// variables, bounded here before they are made.
	work := s.env.len() + s.baseEnv.len() + len(s.st.Env)
	if im.envWork += work; im.envWork <= maxStepEnv {
		im.setEnvList(r, &r.Env, s.runEnv())
	} else if im.envWork-work <= maxStepEnv {
		im.errorf(r.StepRange(), "Too many environment variables", "The RUN instructions up to this one carry more than %d environment variables in all: each gets every ENV and ARG before it. Use fewer ENV instructions between RUNs, or split the stage.", maxStepEnv)
	}
	if s.workdir != s.baseWorkdir {
		r.Workdir = s.workdir
		im.setTmpl(r, "workdir", expansion{Value: s.workdir, Tmpl: s.workdirTmpl})
	}
	if s.user != s.baseUser {
		r.User = s.user
		im.setTmpl(r, "user", expansion{Value: s.user, Tmpl: s.userTmpl})
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

func (im *importer) runCmd(s *stageState, rng hcl.Range, c *instructions.RunCommand) {
	var words []expansion // expanded --mount options, for their templates
	err := c.Expand(func(word string) (string, error) {
		x, err := im.expandWord(word, s.expandEnv(), s.external)
		if err == nil {
			im.useArgs(x.Matched)
			words = append(words, x)
		}
		return x.Value, err
	})
	if err != nil {
		im.errorf(rng, "Invalid RUN flags", "%s Fix the --mount options of this RUN.", sentence(err.Error()))
		return
	}
	r := &model.Run{Range: rng}
	args := c.CmdLine
	switch {
	case len(c.Files) > 0:
		if len(args) != 1 || !c.PrependShell {
			im.errorf(rng, "Invalid heredoc", "A RUN heredoc needs the shell form. Write the command before the heredoc marker, like RUN <<EOF.")
			return
		}
		if h := parser.MustParseHeredoc(args[0]); h != nil {
			data := c.Files[0].Data
			if c.Files[0].Chomp {
				data = parser.ChompHeredocContent(data)
			}
			if strings.HasPrefix(data, "#!") {
				im.errorf(rng, "Heredoc script with a shebang", "BuildKit runs a RUN heredoc that starts with #! as an executable file, which imgc cannot express yet. Remove the #! line to run the script with the stage's shell, or call the interpreter explicitly: RUN python3 <<EOF.")
				return
			}
			r.Command = &model.Sh{Script: data}
		} else {
			var b strings.Builder
			b.WriteString(args[0])
			for _, f := range c.Files {
				b.WriteByte('\n')
				b.WriteString(f.Data)
				b.WriteString(f.Name)
			}
			r.Command = &model.Sh{Script: b.String()}
		}
	case c.PrependShell:
		sh := &model.Sh{}
		if len(args) > 0 {
			sh.Script = collapseSpaces(args[0])
		}
		r.Command = sh // model.Check reports an empty one
	default:
		r.Command = &model.Exec{Argv: append([]string{}, args...)}
	}
	im.stepSettings(s, r)
	if n := instructions.GetNetwork(c); n != "" && n != instructions.NetworkDefault {
		r.Network = n
	}
	if sec := instructions.GetSecurity(c); sec != "" && sec != "sandbox" {
		im.errorf(rng, "Insecure RUN", "imgc does not run steps with --security=%s. Remove the flag.", sec)
	}
	if d := instructions.GetDevices(c); len(d) > 0 {
		im.errorf(rng, "RUN device", "imgc does not give steps devices (--device). Remove the flag.")
	}
	for _, m := range instructions.GetMounts(c) {
		if mm, ok := im.mount(s, rng, m); ok {
			if _, isImage := mm.From.(*model.Image); isImage {
				im.keepWritten(r, fmt.Sprintf("mount.%d.from", len(r.Mounts)), m.From)
			}
			r.Mounts = append(r.Mounts, mm)
		}
	}
	im.mountTemplates(s, rng, r, words)
	r.Vars = s.allArgs()
	s.st.Steps = append(s.st.Steps, r)
	s.stepped = true
}

// mountTemplates records, when converting, the templates of mount options
// that came from ARGs, and warns about those that cannot keep them.
func (im *importer) mountTemplates(s *stageState, rng hcl.Range, r *model.Run, words []expansion) {
	if !im.converting {
		return
	}
	for _, x := range words {
		if x.Tmpl == quoteLit(x.Value) {
			continue
		}
		kept := false
		for i, m := range r.Mounts {
			for _, f := range []struct{ name, value string }{{"target", m.Target}, {"id", m.ID}, {"source", m.Source}, {"env", m.Env}} {
				switch {
				case f.value == "":
				case f.value == x.Value:
					im.setTmpl(r, fmt.Sprintf("mount.%d.%s", i, f.name), x)
					kept = true
				case f.name == "target" && !path.IsAbs(x.Value) && strings.HasSuffix(f.value, "/"+path.Clean(x.Value)):
					base := expansion{Value: s.workdir, Tmpl: s.workdirTmpl}
					clean := expansion{Value: path.Clean(x.Value), Tmpl: x.Tmpl}
					im.setTmpl(r, fmt.Sprintf("mount.%d.%s", i, f.name), expansion{Value: f.value, Tmpl: im.joinedTmpl(rng, "mount target", f.value, base, clean)})
					kept = true
				}
			}
		}
		if !kept {
			im.lostTemplate(rng, "--mount option", x)
		}
	}
}

func (im *importer) mount(s *stageState, rng hcl.Range, m *instructions.Mount) (model.Mount, bool) {
	out := model.Mount{
		Type:     string(m.Type),
		Target:   m.Target,
		ID:       m.CacheID,
		Sharing:  string(m.CacheSharing),
		Source:   m.Source,
		ReadOnly: m.ReadOnly,
		Required: m.Required,
		Size:     m.SizeLimit,
		Range:    rng,
	}
	switch m.Type {
	case instructions.MountTypeSSH:
		im.errorf(rng, "SSH mount", "imgc does not forward SSH agents to steps yet. Use a secret mount instead.")
		return out, false
	case instructions.MountTypeSecret:
		if m.Source != "" {
			out.ID = m.Source
			out.Source = ""
		}
		if m.Env != nil {
			out.Env = *m.Env
		}
		if out.ID == "" {
			out.ID = path.Base(out.Target)
		}
		// Secrets are always read-only; the flag only means something
		// for bind and cache mounts (and the HCL front end leaves it
		// false).
		out.ReadOnly = false
		if out.Target == "" && out.Env == "" {
			out.Target = "/run/secrets/" + out.ID
		}
	case instructions.MountTypeBind, instructions.MountTypeCache:
		if m.From != "" {
			out.From = im.fromRef(s, rng, m.From)
		}
	}
	if m.Type != instructions.MountTypeSecret && !path.IsAbs(out.Target) {
		// BuildKit mounts a relative (or missing) target under the
		// working directory.
		if s.workdirKnown {
			out.Target = path.Join("/", s.workdir, out.Target)
		} else if out.Target == "" {
			out.Target = "."
		}
		if out.Target == "/" {
			im.errorf(rng, "Mount without target", "This %s mount has no target and the working directory is /, so it would cover the root. Add target=PATH to the --mount flag.", m.Type)
			return out, false
		}
	}
	if m.Type == instructions.MountTypeCache {
		// BuildKit's defaults, which the HCL front end applies too.
		if out.ID == "" {
			out.ID = out.Target
		}
		if out.Sharing == "" {
			out.Sharing = "shared"
		}
	}
	if m.Mode != nil {
		v := uint32(*m.Mode)
		out.Mode = &v
	}
	if m.UID != nil {
		v := int(*m.UID)
		out.UID = &v
	}
	if m.GID != nil {
		v := int(*m.GID)
		out.GID = &v
	}
	return out, true
}

// fromRef resolves --from: a stage index, a stage name, or an image. It
// is nil when it reports an error.
func (im *importer) fromRef(s *stageState, rng hcl.Range, from string) model.Base {
	if i, err := strconv.Atoi(from); err == nil {
		if i < 0 || i >= len(im.stages) || im.stages[i] == s {
			im.errorf(rng, "Invalid stage index", "--from=%d must name an earlier stage by its index (0 to %d). Use an earlier stage's index or its name.", i, len(im.stages)-2)
			return nil
		}
		return &model.Target{Name: im.stages[i].st.Name}
	}
	if strings.Contains(from, "$") {
		im.errorf(rng, "Variable in --from", "BuildKit does not expand variables in --from. Define a stage with FROM ${VAR} AS name and use --from=name.")
		return nil
	}
	if st := im.stageNamed(from); st != nil {
		if st == s {
			im.errorf(rng, "Stage refers to itself", "--from=%s names the stage it is in. Copy from another stage.", from)
			return nil
		}
		return &model.Target{Name: st.st.Name}
	}
	if strings.EqualFold(from, "scratch") {
		return &model.Scratch{}
	}
	ref, err := imageref.Parse(from)
	if err != nil {
		im.diags = append(im.diags, model.InvalidImageRef(from, err, rng, ""))
		return nil
	}
	return &model.Image{Ref: ref}
}

// copyFields are the words of COPY and ADD that BuildKit expands.
type copyFields struct {
	Src                []string
	Dest, Chown, Chmod string
	Checksum           string
	Vars               []string
}

// expandCopy expands a COPY/ADD's words and records their templates on
// owner, which is the step they end up in.
func (im *importer) expandCopy(s *stageState, rng hcl.Range, sd instructions.SourcesAndDest, chown, chmod, checksum string) (copyFields, map[string]expansion, bool) {
	var f copyFields
	xs := map[string]expansion{}
	ok := true
	var matched []string
	word := func(field, w string) string {
		x, good := im.expand(s, rng, w)
		ok = ok && good
		matched = append(matched, x.Matched...)
		xs[field] = x
		return x.Value
	}
	for i, src := range sd.SourcePaths {
		f.Src = append(f.Src, word("src."+strconv.Itoa(i), src))
	}
	raw := word("dest", sd.DestPath)
	f.Dest = resolveDest(s, raw)
	if f.Dest != raw {
		base := expansion{Value: s.workdir, Tmpl: s.workdirTmpl}
		xs["dest"] = expansion{Value: f.Dest, Tmpl: im.joinedTmpl(rng, "destination", f.Dest, base, xs["dest"])}
	}
	f.Chown = word("chown", chown)
	if err := model.ValidateUser(f.Chown); err != nil {
		im.errorf(rng, "Invalid --chown", "%s Give a smaller numeric id, or a name.", sentence(err.Error()))
		ok = false
	}
	f.Chmod = word("chmod", chmod)
	f.Checksum = word("checksum", checksum)
	f.Vars = s.argVars(uniqueSorted(matched))
	return f, xs, ok
}

func (im *importer) recordTemplates(owner any, xs map[string]expansion) {
	for field, x := range xs {
		im.setTmpl(owner, field, x)
	}
}

func uniqueSorted(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range in {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return sortedCopy(out)
}

func (im *importer) copyCmd(s *stageState, rng hcl.Range, c *instructions.CopyCommand) {
	f, xs, ok := im.expandCopy(s, rng, c.SourcesAndDest, c.Chown, c.Chmod, "")
	if !ok {
		return
	}
	cp := &model.Copy{
		FileSpec: model.FileSpec{Src: f.Src, Dest: f.Dest, Exclude: c.ExcludePatterns, Chown: f.Chown, Chmod: f.Chmod, Link: c.Link},
		Parents:  c.Parents,
		Vars:     f.Vars,
		Range:    rng,
	}
	im.recordTemplates(cp, xs)
	if c.From != "" {
		cp.From = im.fromRef(s, rng, c.From)
		if _, isImage := cp.From.(*model.Image); isImage {
			im.keepWritten(cp, "from", c.From)
		}
	}
	if len(c.SourceContents) > 0 {
		run := im.inlineFiles(s, rng, cp, c.SourceContents, cp.Chown, cp.Chmod)
		if run == nil {
			return
		}
		if len(cp.Src) == 0 {
			s.st.Steps = append(s.st.Steps, run)
		} else {
			s.st.Steps = append(s.st.Steps, &model.Layer{Name: fmt.Sprintf("line-%d", rng.Start.Line), Steps: []model.Step{cp, run}, Range: rng})
		}
		s.stepped = true
		return
	}
	s.st.Steps = append(s.st.Steps, cp)
	s.stepped = true
}

// inlineFiles turns COPY heredoc files into a shell step that writes them,
// the closest the model can express.
func (im *importer) inlineFiles(s *stageState, rng hcl.Range, cp *model.Copy, files []instructions.SourceContent, chown, chmod string) *model.Run {
	if cp.From != nil {
		im.errorf(rng, "Heredoc with --from", "COPY cannot take heredoc files together with --from. Split the instruction.")
		return nil
	}
	var b strings.Builder
	multi := len(files)+len(cp.Src) > 1 || strings.HasSuffix(cp.Dest, "/")
	for i, f := range files {
		data := f.Data
		if f.Expand {
			lex := *im.lex
			lex.SkipProcessQuotes = true
			res, err := lex.ProcessWordWithMatches(data, getter{env: s.expandEnv()})
			if err == nil {
				data = res.Result
			}
		}
		dest := cp.Dest
		if multi {
			dest = path.Join(dest, f.Path)
		} else if !path.IsAbs(dest) {
			dest = path.Join(".", dest)
		}
		marker := "IMGC_EOF"
		for strings.Contains(data, marker) {
			marker += "_"
		}
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "mkdir -p %s\ncat > %s <<'%s'\n%s", shellQuote(path.Dir(dest)), shellQuote(dest), marker, data)
		if !strings.HasSuffix(data, "\n") && data != "" {
			im.errorf(rng, "Heredoc without final newline", "imgc writes COPY heredoc files with a shell step, which cannot write a file without a final newline. End the heredoc with a newline or copy a file from the context.")
			return nil
		}
		b.WriteString(marker + "\n")
		if chmod != "" {
			fmt.Fprintf(&b, "chmod %s %s\n", shellQuote(chmod), shellQuote(dest))
		}
		if chown != "" {
			fmt.Fprintf(&b, "chown %s %s\n", shellQuote(chown), shellQuote(dest))
		}
	}
	im.warnf(rng, "Heredoc file written by a shell step", "imgc has no inline file source yet, so this COPY heredoc becomes a RUN that writes the file with the stage's shell and cat. The stage's base image needs /bin/sh, and the layer's cache key differs from BuildKit's.")
	run := &model.Run{Command: &model.Sh{Script: b.String()}, Range: rng}
	im.stepSettings(s, run)
	if u := s.user; u != "" && u != "root" && u != "0" && !strings.HasPrefix(u, "0:") && !strings.HasPrefix(u, "root:") {
		// COPY writes as root whatever USER says.
		run.User = "0"
	}
	run.Vars = s.allArgs()
	return run
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-:+=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func sortedCopy(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}

// isGitSource mirrors BuildKit's dfgitutil.ParseGitRef for ADD sources
// (which this package does not import: it pulls in an SSH client).
func isGitSource(src string) bool {
	switch {
	case strings.HasPrefix(src, "./"), strings.HasPrefix(src, "../"):
		return false
	case strings.HasPrefix(src, "github.com/"),
		strings.HasPrefix(src, "git://"), strings.HasPrefix(src, "ssh://"),
		strings.HasPrefix(src, "git@"):
		return true
	case strings.HasPrefix(src, "http://"), strings.HasPrefix(src, "https://"):
		u, err := url.Parse(src)
		return err == nil && strings.HasSuffix(u.Path, ".git")
	}
	return false
}

func isHTTPSource(src string) bool {
	return (strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")) && !isGitSource(src)
}

func (im *importer) addCmd(s *stageState, rng hcl.Range, c *instructions.AddCommand) {
	f, xs, ok := im.expandCopy(s, rng, c.SourcesAndDest, c.Chown, c.Chmod, c.Checksum)
	if !ok {
		return
	}
	if len(c.SourceContents) > 0 {
		if len(f.Src) > 0 {
			im.errorf(rng, "Heredoc mixed with files", "imgc cannot mix heredoc files with other sources in one ADD yet. Split the instruction.")
			return
		}
		cp := &model.Copy{FileSpec: model.FileSpec{Dest: f.Dest}, Range: rng}
		if run := im.inlineFiles(s, rng, cp, c.SourceContents, f.Chown, f.Chmod); run != nil {
			s.st.Steps = append(s.st.Steps, run)
			s.stepped = true
		}
		return
	}
	var locals []string
	var localX []expansion
	var adds []model.Step
	for i, src := range f.Src {
		x := xs["src."+strconv.Itoa(i)]
		switch {
		case isGitSource(src):
			im.errorf(rng, "Git source", "git sources are not supported yet. Clone the repository in a RUN step, or copy a checkout from the build context.")
			return
		case isHTTPSource(src):
			a := &model.Add{FileSpec: model.FileSpec{Dest: f.Dest, Chown: f.Chown, Chmod: f.Chmod, Link: c.Link, Exclude: c.ExcludePatterns}, URL: src, Checksum: f.Checksum, Vars: f.Vars, Range: rng}
			if c.Unpack != nil {
				a.Extract = *c.Unpack
			}
			if f.Checksum == "" {
				im.warnf(rng, "URL without checksum", "ADD downloads %s without --checksum, so a changed file is not detected and the build is not reproducible. Add --checksum=sha256:... .", src)
			}
			im.setTmpl(a, "url", x)
			im.recordCommon(a, xs)
			adds = append(adds, a)
		default:
			locals = append(locals, src)
			localX = append(localX, x)
		}
	}
	if f.Checksum != "" && (len(adds) != 1 || len(locals) > 0) {
		im.errorf(rng, "Checksum with several sources", "--checksum applies to exactly one URL source. Split the ADD so that each URL has its own instruction.")
		return
	}
	if len(locals) > 0 {
		a := &model.Add{FileSpec: model.FileSpec{Src: locals, Dest: f.Dest, Chown: f.Chown, Chmod: f.Chmod, Link: c.Link, Exclude: c.ExcludePatterns}, Extract: true, Vars: f.Vars, Range: rng}
		if c.Unpack != nil {
			a.Extract = *c.Unpack
		}
		for i, x := range localX {
			im.setTmpl(a, "src."+strconv.Itoa(i), x)
		}
		im.recordCommon(a, xs)
		adds = append(adds, a)
	}
	if c.KeepGitDir != nil && *c.KeepGitDir {
		im.warnf(rng, "Ignored --keep-git-dir", "--keep-git-dir only applies to git sources. Remove the flag.")
	}
	switch len(adds) {
	case 0:
		return
	case 1:
		s.st.Steps = append(s.st.Steps, adds[0])
	default:
		s.st.Steps = append(s.st.Steps, &model.Layer{Name: fmt.Sprintf("line-%d", rng.Start.Line), Steps: adds, Range: rng})
	}
	s.stepped = true
}

func (im *importer) recordCommon(owner any, xs map[string]expansion) {
	for _, field := range []string{"dest", "chown", "chmod", "checksum"} {
		if x, ok := xs[field]; ok {
			im.setTmpl(owner, field, x)
		}
	}
}
