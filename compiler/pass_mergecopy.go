package compiler

import "github.com/imgc-dev/imgc/ir"

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
	return mergeAdjacent(s, p, "copy", "copy steps with disjoint destinations", func(layers []*ir.Layer) int {
		if !soleCopy(layers[0]) {
			return 1
		}
		group := layerEffects(layers[0])
		n := 1
		for n < len(layers) && soleCopy(layers[n]) && independent(group, layerEffects(layers[n])) {
			group = union(group, layerEffects(layers[n]))
			n++
		}
		return n
	})
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
