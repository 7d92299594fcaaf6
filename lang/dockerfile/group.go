package dockerfile

import (
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"
)

// A stage's steps are written in segments: a run of steps whose RUNs
// share their settings (the ARGs in scope, a WORKDIR, USER or SHELL set
// after the first step) is one `steps` block that states them once.

// segment is consecutive steps whose run steps share a key.
type segment struct {
	key   string // the shared settings; "" for none
	runs  []*runForm
	steps []stepForm
}

// settingsKey identifies a run step's env, user and shell.
func settingsKey(r *runForm) string {
	if len(r.Env) == 0 && r.User.Value == "" && r.Shell == nil {
		return ""
	}
	var b strings.Builder
	for _, e := range r.Env {
		b.WriteString(e.Name + "\x00" + e.Value + "\x00" + e.Tmpl + "\x00")
		if e.Null {
			b.WriteString("null")
		}
		b.WriteString("\x01")
	}
	b.WriteString("\x02" + r.User.Value + "\x00" + r.User.Tmpl)
	if r.Shell != nil {
		b.WriteString("\x02" + strings.Join(r.Shell, "\x00"))
	}
	return b.String()
}

// neutral reports whether a step reads the same inside a steps block as
// outside it: a copy or add whose destination is written absolute (a
// group's workdir would start a relative one).
func (w *writer) neutral(s stepForm) bool {
	var dest text
	switch s := s.(type) {
	case *copyForm:
		dest = s.Dest
	case *addForm:
		dest = s.Dest
	default:
		return false
	}
	return strings.HasPrefix(w.text(dest), `"/`)
}

// segments splits steps where key changes: a run step's key is key(r);
// neutral steps go with the run steps around them, other steps stand
// alone.
func (w *writer) segments(steps []stepForm, key func(*runForm) string) []*segment {
	var out []*segment
	var cur *segment
	for _, s := range steps {
		switch s := s.(type) {
		case *runForm:
			k := key(s)
			if cur == nil || (len(cur.runs) > 0 && cur.key != k) {
				cur = &segment{}
				out = append(out, cur)
			}
			cur.key = k
			cur.runs = append(cur.runs, s)
		default:
			if !w.neutral(s) {
				// A layer, or a copy that depends on the workdir, stands
				// alone.
				out = append(out, &segment{steps: []stepForm{s}})
				cur = nil
				continue
			}
			if cur == nil {
				cur = &segment{}
				out = append(out, cur)
			}
		}
		cur.steps = append(cur.steps, s)
	}
	return out
}

// workdirKey identifies a run step's workdir when it is written absolute
// (so that it reads the same in a steps block); "" otherwise.
func (w *writer) workdirKey(r *runForm) string {
	if r.Workdir.Value == "" || !strings.HasPrefix(w.text(r.Workdir), `"/`) {
		return ""
	}
	return r.Workdir.Value + "\x00" + r.Workdir.Tmpl
}

// omit are the settings of a run step that a steps block around it
// states.
type omit struct {
	env     bool // env, user and shell
	workdir bool
}

// stageSteps writes a stage's steps: consecutive steps that share their
// env, user and shell in one steps block, and within it (or outside one)
// those that share a workdir in another.
func (w *writer) stageSteps(b *hclwrite.Body, steps []stepForm) {
	for _, seg := range w.segments(steps, settingsKey) {
		if seg.key == "" || len(seg.runs) < 2 {
			w.workdirSteps(b, seg.steps, 1, omit{})
			continue
		}
		b.AppendNewline()
		w.comments(b, seg.steps[0].stepRange().Start.Line)
		g := b.AppendNewBlock("steps", nil).Body()
		r := seg.runs[0]
		w.runSettings(g, &r.Range, r.Env, text{}, r.User, r.Shell)
		w.workdirSteps(g, seg.steps, 2, omit{env: true})
	}
}

// workdirSteps writes steps, those that share a workdir in a steps block.
func (w *writer) workdirSteps(b *hclwrite.Body, steps []stepForm, depth int, o omit) {
	for _, seg := range w.segments(steps, w.workdirKey) {
		if seg.key == "" || len(seg.runs) < 2 {
			for _, step := range seg.steps {
				b.AppendNewline()
				w.comments(b, step.stepRange().Start.Line)
				w.step(b, step, depth, o)
			}
			continue
		}
		b.AppendNewline()
		w.comments(b, seg.steps[0].stepRange().Start.Line)
		g := b.AppendNewBlock("steps", nil).Body()
		g.SetAttributeRaw("workdir", raw(w.text(seg.runs[0].Workdir)))
		for _, step := range seg.steps {
			g.AppendNewline()
			w.comments(g, step.stepRange().Start.Line)
			w.step(g, step, depth+1, omit{env: o.env, workdir: true})
		}
	}
}
