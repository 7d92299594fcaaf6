package dockerfile

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/model"
)

// lower turns the form into the model Import returns (before model.Check).
func (f *form) lower(dir string) *model.Config {
	cfg := &model.Config{
		Dir:   dir,
		Files: map[string]*hcl.File{f.src.filename: {Bytes: f.src.src}},
		Vars:  f.args,
	}
	for _, s := range f.stages {
		cfg.Stages = append(cfg.Stages, s.lower())
	}
	return cfg
}

func (s *stageForm) lower() *model.Stage {
	st := &model.Stage{
		Kind:          s.Kind,
		Name:          s.Name,
		From:          model.From{Base: s.From.Base, Range: s.FromRange},
		Platform:      s.Platform.Value,
		PlatformRange: s.PlatformRange,
		Env:           lowerEnv(s.Env),
		Workdir:       s.Workdir.Value,
		User:          s.User.Value,
		Shell:         s.Shell,
		DeclRange:     s.DeclRange,
		Range:         s.Range,
	}
	for _, step := range s.Steps {
		st.Steps = append(st.Steps, lowerStep(step))
	}
	if c := s.Config; c != nil {
		st.Config = c.lower()
	}
	return st
}

func lowerEnv(env []envText) []model.EnvVar {
	var out []model.EnvVar
	for _, e := range env {
		if e.Null {
			continue
		}
		out = append(out, model.EnvVar{Name: e.Name, Value: e.Value})
	}
	return out
}

func lowerStep(step stepForm) model.Step {
	switch s := step.(type) {
	case *runForm:
		r := &model.Run{
			Command:  s.Command,
			Env:      lowerEnv(s.Env),
			Workdir:  s.Workdir.Value,
			User:     s.User.Value,
			Shell:    s.Shell,
			Network:  s.Network,
			Security: s.Security,
			Devices:  s.Devices,
			Vars:     s.Vars,
			Range:    s.Range,
		}
		for _, m := range s.Mounts {
			r.Mounts = append(r.Mounts, m.lower())
		}
		return r
	case *copyForm:
		c := &model.Copy{FileSpec: s.fileForm.lower(), Parents: s.Parents, Vars: s.Vars, Context: s.Context, NamedContext: s.Context != "", Range: s.Range}
		if s.From != nil {
			c.From = s.From.Base
		}
		if s.Content != nil {
			content := s.Content.Value
			c.Content, c.Name = &content, s.Name
		}
		return c
	case *addForm:
		return &model.Add{FileSpec: s.fileForm.lower(), URL: s.URL.Value, Checksum: s.Checksum.Value, Git: s.Git, Extract: s.Extract, Vars: s.Vars, Range: s.Range}
	case *mkdirForm:
		return &model.Mkdir{Path: s.Path.Value, User: s.User.Value, Vars: s.Vars, Range: s.Range}
	case *layerForm:
		l := &model.Layer{Name: s.Name, Range: s.Range}
		for _, inner := range s.Steps {
			l.Steps = append(l.Steps, lowerStep(inner))
		}
		return l
	}
	panic("dockerfile: lower: unknown step form")
}

func (m mountForm) lower() model.Mount {
	out := model.Mount{
		Type:     m.Type,
		Target:   m.Target.Value,
		ID:       m.ID.Value,
		Sharing:  m.Sharing,
		Source:   m.Source.Value,
		ReadOnly: m.ReadOnly,
		Required: m.Required,
		Env:      m.Env.Value,
		Mode:     m.Mode,
		UID:      m.UID,
		GID:      m.GID,
		Size:     m.Size,
		Range:    m.Range,
	}
	if m.From != nil {
		out.From, out.Context = m.From.Base, m.From.Dir
	}
	return out
}

func (f fileForm) lower() model.FileSpec {
	return model.FileSpec{Src: values(f.Src), Dest: f.Dest.Value, Exclude: f.Exclude, Chown: f.Chown.Value, Chmod: f.Chmod.Value, Link: f.Link}
}

func (c *configForm) lower() *model.ImageConfig {
	out := &model.ImageConfig{
		Entrypoint:    c.Entrypoint,
		EntrypointSet: c.EntrypointSet,
		Cmd:           c.Cmd,
		CmdSet:        c.CmdSet,
		Env:           lowerEnv(c.Env),
		User:          c.User.Value,
		Workdir:       c.Workdir.Value,
		Expose:        values(c.Expose),
		Volumes:       values(c.Volumes),
		StopSignal:    c.StopSignal.Value,
		Healthcheck:   c.Healthcheck,
		OnBuild:       c.OnBuild,
		Shell:         c.Shell,
		Author:        c.Author.Value,
		Range:         c.Range,
		Instructions:  c.Instructions,
	}
	for k, v := range c.Labels {
		if c.BaseEnvLabels[k] {
			if out.BaseEnvLabels == nil {
				out.BaseEnvLabels = map[string]string{}
			}
			out.BaseEnvLabels[k] = v.Value
			continue
		}
		if out.Labels == nil {
			out.Labels = map[string]string{}
		}
		out.Labels[k] = v.Value
	}
	return out
}
