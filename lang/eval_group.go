package lang

import (
	"path"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/model"
)

// groupAttributes are the settings a `steps` block gives the steps in it.
var groupAttributes = []hcl.AttributeSchema{{Name: "env"}, {Name: "workdir"}, {Name: "user"}, {Name: "shell"}}

// groupSettings are a steps block's evaluated settings.
type groupSettings struct {
	env     []model.EnvVar
	workdir string
	user    string
	shell   []string
}

// group evaluates a `steps` block: its steps, each with the block's env,
// workdir, user and shell as if written on the step (the step's own values
// win). The settings never reach the image config. A steps block inside
// another gives its steps its own settings first, then the outer's.
func (e *evaluator) group(decl *stageDecl, b *hcl.Block, inherited map[string]bool, layerNames map[string]hcl.Range) []model.Step {
	blocks := append(e.l.stepBlocks(true), hcl.BlockHeaderSchema{Type: "steps"})
	content, diags := b.Body.Content(&hcl.BodySchema{Attributes: groupAttributes, Blocks: blocks})
	e.l.addEval(diags)
	attrs := content.Attributes
	g := groupSettings{env: e.env(attrs, "env"), user: e.user(attrs), shell: e.shell(attrs, "shell")}
	g.workdir, _ = e.str(attrs, "workdir")
	vars := map[string]bool{}
	for v := range inherited {
		vars[v] = true
	}
	for _, attr := range attrs {
		e.l.varsOf(referencesIn(attr.Expr.Variables()), vars)
	}
	var steps []model.Step
	for _, ib := range content.Blocks {
		switch ib.Type {
		case "layer":
			steps = append(steps, e.layer(decl, ib, vars, layerNames))
		case "steps":
			steps = append(steps, e.group(decl, ib, vars, layerNames)...)
		default:
			steps = append(steps, e.step(ib, vars)...)
		}
	}
	for _, s := range steps {
		g.apply(s)
	}
	return steps
}

// apply gives a step the group's settings where the step has none of
// its own; a relative workdir or destination starts at the group's
// workdir.
func (g groupSettings) apply(s model.Step) {
	switch s := s.(type) {
	case *model.Run:
		s.Env = mergeEnv(g.env, s.Env)
		s.Workdir = g.join(s.Workdir, false)
		if s.User == "" {
			s.User = g.user
		}
		if s.Shell == nil {
			s.Shell = g.shell
		}
	case *model.Copy:
		s.Dest = g.join(s.Dest, true)
	case *model.Add:
		s.Dest = g.join(s.Dest, true)
	case *model.Mkdir:
		// Owned as without the group: a stage's user does not own what
		// mkdir makes either.
		if s.Path != "" {
			s.Path = g.join(s.Path, false)
		}
	case *model.Layer:
		for _, inner := range s.Steps {
			g.apply(inner)
		}
	}
}

// join places p (a workdir, or a dest when dest) under the group's
// workdir when p is relative. An empty workdir is the group's; an empty
// dest stays empty (an error reported already).
func (g groupSettings) join(p string, dest bool) string {
	switch {
	case g.workdir == "" || strings.HasPrefix(p, "/"):
		return p
	case p == "":
		if dest {
			return p
		}
		return g.workdir
	}
	joined := path.Join(g.workdir, p)
	if dest && (strings.HasSuffix(p, "/") || p == "." || strings.HasSuffix(p, "/.")) {
		joined += "/"
	}
	return joined
}

// mergeEnv is the group's env with the step's added over it: a name the
// step sets takes the step's value.
func mergeEnv(group, step []model.EnvVar) []model.EnvVar {
	if len(group) == 0 {
		return step
	}
	own := map[string]bool{}
	for _, v := range step {
		own[v.Name] = true
	}
	var out []model.EnvVar
	for _, v := range group {
		if !own[v.Name] {
			out = append(out, v)
		}
	}
	return append(out, step...)
}
