package local

import (
	"context"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// Explain returns each layer's cache status in p, comparing with the last
// recorded build of each target of p.Project: hit, or miss with a reason
// from ir.MissReasonIn. A key in the index whose blob is gone is a miss "not
// in the cache (pruned)". A layer the build runs whatever the cache holds
// (after a `cache = false` layer, see ir.Plan.ForcedLayers) misses with a reason
// naming that cause. A stage the build skips, because every layer that
// reads it hits, misses with the reason ir.SkippedStage unless cached.
func (e *Engine) Explain(p *ir.Plan) map[ir.CacheKey]ir.Status {
	return e.explain(p, nil)
}

// ExplainFrom is Explain with the imported caches from (--cache-from)
// consulted after the local one, as a build would: a layer one of them
// holds is a hit naming that cache (Status.From). It reads their records
// and no layer blob. For a target this cache directory never built, the
// reasons compare with the layers the first import that has the target
// recorded, so a fresh machine's plan names the input that changed.
// Caches that cannot be read are left out, each with a warning.
func (e *Engine) ExplainFrom(ctx context.Context, p *ir.Plan, from []engine.CacheImport) (map[ir.CacheKey]ir.Status, []string) {
	var warnings []string
	imports := openSharedCache(ctx, e.s, from, "", func(ev engine.Event) { warnings = append(warnings, ev.Line) })
	return e.explain(p, imports), warnings
}

func (e *Engine) explain(p *ir.Plan, imports *sharedCache) map[ir.CacheKey]ir.Status {
	s := e.s
	last := lastBuild(s, p, imports)
	// One listing of the keys instead of a failing open per layer never
	// built.
	n := 0
	for _, t := range p.Targets {
		n += len(t.Layers)
	}
	keys := s.SnapshotKeys(n)
	// lookup finds l's entry locally, else in an import (from names it).
	lookup := func(l *ir.Layer) (e store.Entry, from string, ok, pruned bool) {
		e, ok, pruned = keys.LookupKey(l.Key)
		if ok {
			return e, "", true, false
		}
		if h, found := imports.find(l.Key, nil, l); found {
			return h.rec.Entry, h.src.Name, true, false
		}
		return e, "", false, pruned
	}
	forced := p.ForcedLayers()
	return statuses(p, last, lookup, forced, neededTargets(keys, imports, p, forced, false))
}

// lastBuild is the last recorded build of each target of p, by
// store.RecordKey; for a target this cache directory never built, the
// layers the first of the imported caches that recorded it holds.
func lastBuild(s *store.Store, p *ir.Plan, imports *sharedCache) map[string][]*ir.Layer {
	last := s.LastBuild(p.Project)
	if imports == nil {
		return last
	}
	// An imported cache records targets by name, and a multi-platform
	// export also by name and platform.
	for _, t := range p.Targets {
		if _, ok := last[store.RecordKey(t)]; ok {
			continue
		}
		for _, src := range imports.srcs {
			layers, ok := src.Targets[platformTarget(t.Name, engine.PlatformOf(p))]
			if !ok {
				layers, ok = src.Targets[t.Name]
			}
			if ok {
				last[store.RecordKey(t)] = layers
				break
			}
		}
	}
	return last
}

// layerLookup finds a layer's cache entry: ok when cached, from naming
// the imported cache that holds it, pruned when its key is listed but its
// content gone.
type layerLookup func(l *ir.Layer) (e store.Entry, from string, ok, pruned bool)

// statuses is Explain's answer for p given the last build of each target,
// how to find a layer in the cache, the layers forced to run and the
// targets the build needs.
func statuses(p *ir.Plan, last map[string][]*ir.Layer, lookup layerLookup, forced map[*ir.Layer]string, needed map[string]bool) map[ir.CacheKey]ir.Status {
	out := map[ir.CacheKey]ir.Status{}
	// Statuses are by key, and a layer of a skipped stage may be one of a
	// needed target too (the same step on the same base): the needed
	// targets' statuses go first, and a skipped stage adds only keys no
	// needed target has.
	for _, t := range p.Targets {
		if !needed[t.Name] {
			continue
		}
		prev := last[store.RecordKey(t)]
		parentRebuilt := false
		for i, l := range t.Layers {
			e, from, ok, pruned := lookup(l)
			if ok && !l.NoCache {
				if why := forced[l]; why != "" {
					out[l.Key] = ir.Status{Reason: why}
				} else {
					out[l.Key] = ir.Status{Hit: true, Empty: e.Empty, From: from}
				}
				parentRebuilt = forced[l] != ""
				continue
			}
			pl := previousLayer(prev, l, i)
			// A parent that hits but is not the last build's parent (the
			// layers before were merged or reordered) changes this layer too.
			reason := ir.MissReasonIn(p, t, pl, l, parentRebuilt || (i > 0 && pl != nil && pl.Parent != l.Parent))
			if pruned && !l.NoCache && !parentRebuilt {
				reason = "not in the cache (pruned)"
			}
			out[l.Key] = ir.Status{Reason: reason}
			parentRebuilt = true
		}
	}
	for _, t := range p.Targets {
		if needed[t.Name] {
			continue
		}
		for _, l := range t.Layers {
			if _, taken := out[l.Key]; taken {
				continue
			}
			if e, from, ok, _ := lookup(l); ok && forced[l] == "" {
				// Cached, and not made this time either: plan labels the
				// stage as skipped.
				out[l.Key] = ir.Status{Hit: true, Empty: e.Empty, From: from, Skipped: true}
			} else {
				out[l.Key] = ir.Status{Reason: ir.SkippedStage, Skipped: true}
			}
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
