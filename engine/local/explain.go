package local

import (
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// Explain returns each layer's cache status in p, comparing with the last
// recorded build of each target of p.Project: hit, or miss with a reason
// from ir.MissReasonOn. A key in the index whose blob is gone is a miss "not
// in the cache (pruned)". A layer the build runs whatever the cache holds
// (after a `cache = false` layer, see ir.Plan.ForcedLayers) misses with a reason
// naming that cause. A stage the build skips, because every layer that
// reads it hits, misses with the reason ir.SkippedStage unless cached.
func (e *Engine) Explain(p *ir.Plan) map[ir.CacheKey]ir.Status {
	s := e.s
	last := s.LastBuild(p.Project)
	forced := p.ForcedLayers()
	needed := neededTargets(s, p, forced, false)
	out := map[ir.CacheKey]ir.Status{}
	for _, t := range p.Targets {
		if !needed[t.Name] {
			for _, l := range t.Layers {
				if e, ok, _ := s.LookupKey(l.Key); ok && forced[l] == "" {
					out[l.Key] = ir.Status{Hit: true, Empty: e.Empty}
				} else {
					out[l.Key] = ir.Status{Reason: ir.SkippedStage, Skipped: true}
				}
			}
			continue
		}
		prev := last[store.RecordKey(t)]
		baseKind := targetKind(p, t.Base.Target)
		parentRebuilt := false
		for i, l := range t.Layers {
			e, ok, pruned := s.LookupKey(l.Key)
			if ok && !l.NoCache {
				if why := forced[l]; why != "" {
					out[l.Key] = ir.Status{Reason: why}
				} else {
					out[l.Key] = ir.Status{Hit: true, Empty: e.Empty}
				}
				parentRebuilt = forced[l] != ""
				continue
			}
			pl := previousLayer(prev, l, i)
			// A parent that hits but is not the last build's parent (the
			// layers before were merged or reordered) changes this layer too.
			reason := ir.MissReasonOn(t.Base, baseKind, pl, l, parentRebuilt || (i > 0 && pl != nil && pl.Parent != l.Parent))
			if pruned && !l.NoCache && !parentRebuilt {
				reason = "not in the cache (pruned)"
			}
			out[l.Key] = ir.Status{Reason: reason}
			parentRebuilt = true
		}
	}
	return out
}

// previousLayer finds the layer of the last build that cur is compared
// with: the one with the same key, else the same name (nearest to index
// i), else the one at index i.
func previousLayer(prev []*ir.Layer, cur *ir.Layer, i int) *ir.Layer {
	for _, l := range prev {
		if l.Key == cur.Key {
			return l
		}
	}
	best := -1
	for j, l := range prev {
		if l.Name == cur.Name && (best < 0 || abs(j-i) < abs(best-i)) {
			best = j
		}
	}
	if best >= 0 {
		return prev[best]
	}
	if i < len(prev) {
		return prev[i]
	}
	return nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func targetKind(p *ir.Plan, name string) ir.TargetKind {
	if t := p.Target(name); t != nil {
		return t.Kind
	}
	return ""
}
