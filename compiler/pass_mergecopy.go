package compiler

import (
	"fmt"

	"github.com/imgc-dev/imgc/compiler/ir"
)

// mergeCopies merges adjacent `copy` layers whose destinations are
// disjoint into one layer, at --optimize=all. It is safe because the
// merged layer is the steps' diffs applied in their order (the runtime
// builds each step under its own key in ir.Layer.Merged, then re-packs the
// layer from those snapshots), and copies to disjoint destinations that
// create shared parent directories the same way (effects.go) do not see
// each other: the final filesystem is the one the separate layers give.
// Editing one copy re-runs that copy alone, then re-packs. Copies with
// overlapping destinations, cache = false, or already in a layer block of
// several steps are left alone.
func mergeCopies(s *state, p *ir.Plan) *ir.Plan {
	// Targets at safe are only previewed: records, not applied.
	out := &ir.Plan{Project: p.Project, Optimizations: p.Optimizations}
	changed := false
	for _, t := range p.Targets {
		level := s.level(t.Name)
		if level == LevelNone {
			out.Targets = append(out.Targets, t)
			continue
		}
		preview := level == LevelSafe
		var layers []*ir.Layer
		for i := 0; i < len(t.Layers); {
			j := i + 1
			if soleCopy(t.Layers[i]) {
				group := layerEffects(t.Layers[i])
				for j < len(t.Layers) && soleCopy(t.Layers[j]) && independent(group, layerEffects(t.Layers[j])) {
					group = union(group, layerEffects(t.Layers[j]))
					j++
				}
			}
			group := t.Layers[i:j]
			if len(group) < 2 {
				layers = append(layers, group...)
				i = j
				continue
			}
			if preview {
				s.record(fmt.Sprintf("%s `%s`: would merge %d adjacent copy steps with disjoint destinations (%s) into one layer (at --optimize=all)", t.Kind, t.Name, len(group), linesOf(t, group)), false, originsOf(group)...)
				layers = append(layers, group...)
			} else {
				s.record(fmt.Sprintf("%s `%s`: merged %d adjacent copy steps with disjoint destinations (%s) into one layer; each keeps its own cache entry", t.Kind, t.Name, len(group), linesOf(t, group)), true, originsOf(group)...)
				layers = append(layers, mergeLayers(group, "copy"))
				changed = true
			}
			i = j
		}
		nt := *t
		nt.Layers = layers
		out.Targets = append(out.Targets, &nt)
	}
	if !changed {
		return p
	}
	return computeKeys(s, out)
}

// previewMergeCopies records, at --optimize=safe, what mergeCopies would do.
func previewMergeCopies(s *state, p *ir.Plan) {
	mergeCopies(s, p)
}

// soleCopy reports whether a layer is one plain copy step.
func soleCopy(l *ir.Layer) bool {
	if len(l.Steps) != 1 || l.NoCache || len(l.Merged) > 0 {
		return false
	}
	_, ok := l.Steps[0].(*ir.Copy)
	return ok
}

// union is the effects of two layers run one after the other.
func union(a, b effects) effects {
	out := effects{known: a.known && b.known, parents: map[string]string{}}
	out.reads = append(append(out.reads, a.reads...), b.reads...)
	out.exists = append(append(out.exists, a.exists...), b.exists...)
	out.writes = append(append(out.writes, a.writes...), b.writes...)
	out.caches = append(append(out.caches, a.caches...), b.caches...)
	for _, e := range []effects{a, b} {
		for p, how := range e.parents {
			if prev, ok := out.parents[p]; ok && prev != how {
				how = "any"
			}
			out.parents[p] = how
		}
	}
	return out
}
