package dockerfile

import (
	"path"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/model"
)

func (rd *reader) runCmd(s *stageState, rng hcl.Range, c *instructions.RunCommand) {
	var words []expansion // expanded --mount options, for their templates
	err := c.Expand(func(word string) (string, error) {
		x, err := rd.expandWord(word, s.expandEnv(), s.external)
		if err == nil {
			rd.useArgs(x.Matched)
			words = append(words, x)
		}
		return x.Value, err
	})
	if err != nil {
		rd.errorf(rng, "Invalid RUN flags", "%s Fix the --mount options of this RUN.", sentence(err.Error()))
		return
	}
	cmd, ok := rd.runCommand(rng, c)
	if !ok {
		return
	}
	r := &runForm{Command: cmd, Range: rng}
	rd.stepSettings(s, r)
	if n := instructions.GetNetwork(c); n != "" && n != instructions.NetworkDefault {
		r.Network = n
	}
	switch sec := instructions.GetSecurity(c); sec {
	case "", "sandbox":
	case "insecure":
		// Built only with --allow security.insecure, as with buildx.
		r.Security = sec
	default:
		rd.errorf(rng, "Invalid security mode", "RUN --security takes sandbox or insecure, not %q.", sec)
	}
	for _, d := range instructions.GetDevices(c) {
		// BuildKit neither expands nor checks the name: the host's CDI
		// spec files say what it means, where the step runs.
		r.Devices = append(r.Devices, model.Device{Name: d.Name, Required: d.Required, NameRange: rng, Range: rng})
	}
	for _, m := range instructions.GetMounts(c) {
		if mm, ok := rd.mount(s, rng, m); ok {
			r.Mounts = append(r.Mounts, mm)
		}
	}
	rd.mountTemplates(s, rng, r, words)
	r.Vars = s.allArgs()
	s.st.Steps = append(s.st.Steps, r)
	s.stepped = true
}

// runCommand is a RUN's command: a script (heredocs included) or an argv.
func (rd *reader) runCommand(rng hcl.Range, c *instructions.RunCommand) (model.Command, bool) {
	args := c.CmdLine
	switch {
	case len(c.Files) > 0:
		if len(args) != 1 || !c.PrependShell {
			rd.errorf(rng, "Invalid heredoc", "A RUN heredoc needs the shell form. Write the command before the heredoc marker, like RUN <<EOF.")
			return nil, false
		}
		if h := parser.MustParseHeredoc(args[0]); h != nil {
			data := c.Files[0].Data
			if c.Files[0].Chomp {
				data = parser.ChompHeredocContent(data)
			}
			if strings.HasPrefix(data, "#!") {
				// BuildKit runs it as an executable file.
				return &model.Script{Name: c.Files[0].Name, Text: data}, true
			}
			return &model.Sh{Script: data}, true
		}
		var b strings.Builder
		b.WriteString(args[0])
		for _, f := range c.Files {
			b.WriteByte('\n')
			b.WriteString(f.Data)
			b.WriteString(f.Name)
		}
		return &model.Sh{Script: b.String()}, true
	case c.PrependShell:
		sh := &model.Sh{}
		if len(args) > 0 {
			sh.Script = collapseSpaces(args[0])
		}
		return sh, true // model.Check reports an empty one
	default:
		return &model.Exec{Argv: append([]string{}, args...)}, true
	}
}

// mountTemplates gives the mount options that came from ARGs their
// templates, and warns about those that cannot keep them.
func (rd *reader) mountTemplates(s *stageState, rng hcl.Range, r *runForm, words []expansion) {
	for _, x := range words {
		if x.Tmpl == quoteLit(x.Value) {
			continue
		}
		kept := false
		for i := range r.Mounts {
			m := &r.Mounts[i]
			for _, f := range []struct {
				name string
				t    *text
			}{{"target", &m.Target}, {"id", &m.ID}, {"source", &m.Source}, {"env", &m.Env}} {
				var t text
				switch value := f.t.Value; {
				case value == "":
					continue
				case value == x.Value:
					t = textOf(x)
				case f.name == "target" && !path.IsAbs(x.Value) && strings.HasSuffix(value, "/"+path.Clean(x.Value)):
					base := expansion{Value: s.workdir, Tmpl: s.workdirTmpl}
					clean := expansion{Value: path.Clean(x.Value), Tmpl: x.Tmpl}
					t = textOf(expansion{Value: value, Tmpl: rd.joinedTmpl(rng, "mount target", value, base, clean)})
				default:
					continue
				}
				kept = true
				if t.Tmpl != "" {
					// A later option of the same value leaves the
					// template an earlier one gave.
					*f.t = t
				}
			}
		}
		if !kept {
			rd.lostTemplate(rng, "--mount option", x)
		}
	}
}

func (rd *reader) mount(s *stageState, rng hcl.Range, m *instructions.Mount) (mountForm, bool) {
	var from *baseForm
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
		if m.Source != "" {
			rd.errorf(rng, "Source on an SSH mount", "An ssh mount forwards an agent given with --ssh ID; it has no source. Remove source=.")
			return mountForm{}, false
		}
		if out.ID == "" {
			out.ID = "default"
		}
		// Not a cache or bind option; the HCL front end leaves it false.
		out.ReadOnly = false
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
			// A named directory context is mounted as the build
			// context is (baseForm.Dir).
			from = rd.fromRef(s, rng, m.From)
			if from != nil && from.Dir == "" && m.Type == instructions.MountTypeCache {
				rd.warnf(rng, "Cache mount not seeded", "imgc starts this cache mount empty, where BuildKit starts it from the content of from=%s. Copy what the cache needs into it in the RUN.", m.From)
			}
		}
	}
	if m.Type != instructions.MountTypeSecret && !(m.Type == instructions.MountTypeSSH && out.Target == "") && !path.IsAbs(out.Target) {
		// BuildKit mounts a relative (or missing) target under the
		// working directory.
		if s.workdirKnown {
			out.Target = path.Join("/", s.workdir, out.Target)
		} else if out.Target == "" {
			out.Target = "."
		}
		if out.Target == "/" {
			rd.errorf(rng, "Mount without target", "This %s mount has no target and the working directory is /, so it would cover the root. Add target=PATH to the --mount flag.", m.Type)
			return mountForm{}, false
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
	return mountForm{
		Type: out.Type, Target: lit(out.Target), ID: lit(out.ID), Source: lit(out.Source), Env: lit(out.Env),
		Sharing: out.Sharing, From: from, ReadOnly: out.ReadOnly, Required: out.Required,
		Mode: out.Mode, UID: out.UID, GID: out.GID, Size: out.Size, Range: out.Range,
	}, true
}

// fromRef resolves --from: a stage index, a stage name, or an image (kept
// as written). It is nil when it reports an error.
func (rd *reader) fromRef(s *stageState, rng hcl.Range, from string) *baseForm {
	if i, err := strconv.Atoi(from); err == nil {
		if i < 0 || i >= len(rd.stages) || rd.stages[i] == s {
			rd.errorf(rng, "Invalid stage index", "--from=%d must name an earlier stage by its index (0 to %d). Use an earlier stage's index or its name.", i, len(rd.stages)-2)
			return nil
		}
		return &baseForm{Base: &model.Target{Name: rd.stages[i].st.Name}}
	}
	if strings.Contains(from, "$") {
		rd.errorf(rng, "Variable in --from", "BuildKit does not expand variables in --from. Define a stage with FROM ${VAR} AS name and use --from=name.")
		return nil
	}
	if st := rd.stageNamed(from); st != nil {
		if st == s {
			rd.errorf(rng, "Stage refers to itself", "--from=%s names the stage it is in. Copy from another stage.", from)
			return nil
		}
		return &baseForm{Base: &model.Target{Name: st.st.Name}}
	}
	if strings.EqualFold(from, "scratch") {
		return &baseForm{Base: &model.Scratch{}}
	}
	if nc, ok := rd.namedContext(from); ok {
		if nc.Dir != "" {
			return &baseForm{Dir: nc.Dir}
		}
		return &baseForm{Base: &model.Image{Ref: nc.Image}, Written: quoteLit(from)}
	}
	ref, err := imageref.Parse(from)
	if err != nil {
		rd.f.diags = append(rd.f.diags, formDiag{to: forBoth, diag: model.InvalidImageRef(from, err, rng, "")})
		return nil
	}
	return &baseForm{Base: &model.Image{Ref: ref}, Written: quoteLit(from)}
}
