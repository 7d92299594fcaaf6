package compiler

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/imgc-dev/imgc/ir"
)

// rewriteTargets is the skeleton of the passes that rewrite a target's
// layer chain at --optimize=all. It honours each target's level: at none
// the target is kept as it is; at safe rewrite only previews, recording
// what it would do (ir.Optimization.Applied false), also when other
// targets are at all; at all it applies. rewrite returns the target's new
// layers, or nil to keep the target unchanged (it must when previewing).
// Changing layers changes their keys, hence every later key and every key
// built on these targets, so keys are recomputed if any target changed.
func rewriteTargets(s *state, p *ir.Plan, rewrite func(t *ir.Target, preview bool) []*ir.Layer) *ir.Plan {
	out := &ir.Plan{Project: p.Project, Optimizations: p.Optimizations}
	changed := false
	for _, t := range p.Targets {
		level := s.level(t.Name)
		if level == LevelNone {
			out.Targets = append(out.Targets, t)
			continue
		}
		layers := rewrite(t, level == LevelSafe)
		if layers == nil {
			out.Targets = append(out.Targets, t)
			continue
		}
		nt := *t
		nt.Layers = layers
		out.Targets = append(out.Targets, &nt)
		changed = true
	}
	if !changed {
		return p
	}
	return computeKeys(s, out)
}

// mergeAdjacent is the shared part of the merging passes: it merges each
// run of adjacent layers that group marks into one layer named after kind
// ("run", "copy"), recording what it did with what describing the steps
// ("run steps with identical settings"). group returns how many of the
// layers it is given, from the first, may merge (1 if none).
func mergeAdjacent(s *state, p *ir.Plan, kind, what string, group func(layers []*ir.Layer) int) *ir.Plan {
	return rewriteTargets(s, p, func(t *ir.Target, preview bool) []*ir.Layer {
		var layers []*ir.Layer
		merged := false
		var starts layerStarts // made for the first group
		for i := 0; i < len(t.Layers); {
			g := t.Layers[i : i+group(t.Layers[i:])]
			i += len(g)
			if len(g) < 2 {
				layers = append(layers, g...)
				continue
			}
			if starts == nil {
				starts = startsOf(t)
			}
			if preview {
				// Records only: the target is kept as it is.
				s.record(fmt.Sprintf("%s `%s`: would merge %d adjacent %s (%s) into one layer (at --optimize=all)", t.Kind, t.Name, len(g), what, linesOf(starts, g)), false, originsOf(g)...)
				continue
			}
			s.record(fmt.Sprintf("%s `%s`: merged %d adjacent %s (%s) into one layer; each keeps its own cache entry", t.Kind, t.Name, len(g), what, linesOf(starts, g)), true, originsOf(g)...)
			layers = append(layers, mergeLayers(g, kind))
			merged = true
		}
		if !merged {
			return nil
		}
		return layers
	})
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

// linesOf renders the source span of a group of t's layers (starts are
// t's): "lines 10-14 of image.hcl", or "image.hcl:12-15, 29-32" when other
// steps of t lie between them in the file (the optimizer moved them).
func linesOf(starts layerStarts, group []*ir.Layer) string {
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
		if n := len(spans); n > 0 && !starts.between(file, spans[n-1].to, o.Line) {
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

// layerStarts are the lines where a target's layers start, sorted, by
// file.
type layerStarts map[string][]int

func startsOf(t *ir.Target) layerStarts {
	starts := layerStarts{}
	for _, l := range t.Layers {
		starts[l.Origin.File] = append(starts[l.Origin.File], l.Origin.Line)
	}
	for _, lines := range starts {
		slices.Sort(lines)
	}
	return starts
}

// between reports whether a layer starts in file strictly between lines
// from and to.
func (starts layerStarts) between(file string, from, to int) bool {
	lines := starts[file]
	i, _ := slices.BinarySearch(lines, from+1)
	return i < len(lines) && lines[i] < to
}
