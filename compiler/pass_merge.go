package compiler

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/imgc-dev/imgc/compiler/ir"
)

// mergeRuns merges adjacent `run` layers with identical settings (env,
// workdir, user, network, mounts, shell) into one layer, at --optimize=all.
// It is safe because running the same commands in the same order with the
// same settings over the same filesystem gives the same final filesystem
// whether their changes land in one layer or several: a later step sees
// the earlier one's files either way, and files it deletes simply never
// reach the merged layer. Each step keeps its own cache entry
// (ir.Layer.Merged holds the keys it would have had unmerged), so editing
// one re-runs that step alone. Layers with cache = false, declared reads
// or writes, or written as a layer block are left alone.
func mergeRuns(s *state, p *ir.Plan) *ir.Plan {
	// Targets at safe are only previewed: records, not applied.
	out := &ir.Plan{Project: p.Project, Optimizations: p.Optimizations}
	changed := false
	for _, t := range p.Targets {
		level := s.level(t.Name)
		if level == LevelNone {
			out.Targets = append(out.Targets, t)
			continue
		}
		// Targets at safe only preview, also when others are at all.
		preview := level == LevelSafe
		var layers []*ir.Layer
		for i := 0; i < len(t.Layers); {
			j := i + 1
			for j < len(t.Layers) && mergeable(t.Layers[i], t.Layers[j]) {
				j++
			}
			if j-i < 2 {
				layers = append(layers, t.Layers[i])
				i = j
				continue
			}
			group := t.Layers[i:j]
			var origins []ir.Origin
			for _, l := range group {
				origins = append(origins, l.Origin)
			}
			if preview {
				s.record(fmt.Sprintf("%s `%s`: would merge %d adjacent run steps with identical settings (%s) into one layer (at --optimize=all)", t.Kind, t.Name, len(group), linesOf(t, group)), false, origins...)
				layers = append(layers, group...)
				i = j
				continue
			}
			s.record(fmt.Sprintf("%s `%s`: merged %d adjacent run steps with identical settings (%s) into one layer; each keeps its own cache entry", t.Kind, t.Name, len(group), linesOf(t, group)), true, origins...)
			layers = append(layers, mergeLayers(group, "run"))
			changed = true
			i = j
		}
		nt := *t
		nt.Layers = layers
		out.Targets = append(out.Targets, &nt)
	}
	if !changed {
		return p
	}
	// Merging changes the merged layers' keys, hence every later key and
	// every key built on these targets.
	return computeKeys(s, out)
}

// previewMergeRuns records, at --optimize=safe, what mergeRuns would do.
func previewMergeRuns(s *state, p *ir.Plan) {
	mergeRuns(s, p)
}

func mergeable(a, b *ir.Layer) bool {
	ra, ok := soleRun(a)
	if !ok {
		return false
	}
	rb, ok := soleRun(b)
	if !ok {
		return false
	}
	return slices.Equal(ra.Env, rb.Env) && ra.Workdir == rb.Workdir && ra.User == rb.User &&
		ra.Network == rb.Network && ra.Shell == rb.Shell && ra.Shell &&
		slices.Equal(ra.Argv[:len(ra.Argv)-1], rb.Argv[:len(rb.Argv)-1]) &&
		fmt.Sprint(ra.Mounts) == fmt.Sprint(rb.Mounts)
}

// soleRun returns the run step of a layer made of one plain run step.
func soleRun(l *ir.Layer) (*ir.Run, bool) {
	if len(l.Steps) != 1 || l.NoCache || len(l.Merged) > 0 {
		return nil, false
	}
	r, ok := l.Steps[0].(*ir.Run)
	if !ok || len(r.Reads) > 0 || len(r.Writes) > 0 || r.CacheKey != "" {
		return nil, false
	}
	return r, true
}

// mergeLayers makes one layer of group, named "<kind> a + b"; each step
// keeps its own key in Merged (recomputeLayers fills them in).
func mergeLayers(group []*ir.Layer, kind string) *ir.Layer {
	m := &ir.Layer{Origin: group[0].Origin, Merged: make([]ir.CacheKey, len(group))}
	var names, created []string
	for _, l := range group {
		m.Steps = append(m.Steps, l.Steps...)
		names = append(names, strings.TrimPrefix(l.Name, kind+" "))
		created = append(created, l.CreatedBy)
		for k, v := range l.Vars {
			if m.Vars == nil {
				m.Vars = map[string]string{}
			}
			m.Vars[k] = v
		}
	}
	m.Name = clipName(kind + " " + strings.Join(names, " + "))
	m.CreatedBy = strings.Join(created, "; ")
	if last := group[len(group)-1].Origin; last.File == m.Origin.File && last.Line > m.Origin.Line {
		m.Origin.EndLine, m.Origin.EndColumn = max(last.EndLine, last.Line), last.EndColumn
	}
	return m
}

// linesOf renders the source span of a group of t's layers: "lines 10-14
// of image.hcl", or "image.hcl:12-15, 29-32" when other steps of t lie
// between them in the file (the optimizer moved them).
func linesOf(t *ir.Target, group []*ir.Layer) string {
	file := group[0].Origin.File
	if file == "" {
		return "no source lines"
	}
	type span struct{ from, to int }
	var spans []span
	for _, l := range group {
		o := l.Origin
		if o.File != file {
			return lineOf(group[0].Origin) + " and others"
		}
		to := max(o.EndLine, o.Line)
		if n := len(spans); n > 0 && !layerBetween(t, file, spans[n-1].to, o.Line) {
			spans[n-1].to = to
			continue
		}
		spans = append(spans, span{o.Line, to})
	}
	if len(spans) == 1 {
		return fmt.Sprintf("lines %d-%d of %s", spans[0].from, spans[0].to, filepath.Base(file))
	}
	var parts []string
	for _, sp := range spans {
		parts = append(parts, fmt.Sprintf("%d-%d", sp.from, sp.to))
	}
	return filepath.Base(file) + ":" + strings.Join(parts, ", ")
}

// layerBetween reports whether a layer of t starts in file strictly
// between lines from and to.
func layerBetween(t *ir.Target, file string, from, to int) bool {
	for _, l := range t.Layers {
		if l.Origin.File == file && l.Origin.Line > from && l.Origin.Line < to {
			return true
		}
	}
	return false
}
