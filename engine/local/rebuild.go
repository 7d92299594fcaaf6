package local

import (
	"maps"

	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// neededTargets finds the targets the build must build (see
// ir.Plan.NeededTargets). Whether a layer runs is known before building:
// keys do not depend on what layers produce, and a build holds the store's
// lock, so nothing is pruned meanwhile. So a stage that only feeds layers
// the cache holds is skipped, and a build after `imgc cache prune` (which
// keeps what stored images need, not the stages they copied from) does not
// rebuild it.
func neededTargets(s keyLookup, imports *sharedCache, p *ir.Plan, forced map[*ir.Layer]string, noCache bool) map[string]bool {
	return p.NeededTargets(func(l *ir.Layer) bool { return willRun(s, imports, l, forced, noCache) })
}

// keyLookup is the store, or a snapshot of its keys (explain's).
type keyLookup interface {
	LookupKey(ir.CacheKey) (e store.Entry, ok, pruned bool)
}

// willRun tells whether building l will run it rather than reuse the
// cache (the local one, or an imported one).
func willRun(s keyLookup, imports *sharedCache, l *ir.Layer, forced map[*ir.Layer]string, noCache bool) bool {
	if noCache || forced[l] != "" {
		return true
	}
	if _, ok, _ := s.LookupKey(l.Key); ok {
		return false
	}
	return !imports.has(l)
}

// recorded are the targets whose layers this build leaves as their last
// build (store.RecordBuild): those it built, and those it skipped because
// nothing needed them whose every layer is in the cache with the keys
// this build gave them (a stage copied from whose copies hit). Else such
// a stage keeps an older build's record, and plan explains a later change
// against values the user has since set back.
func (b *builder) recorded() map[string]bool {
	out := maps.Clone(b.needed)
	for _, t := range b.p.Targets {
		if out[t.Name] {
			continue
		}
		cached := true
		for _, l := range t.Layers {
			if willRun(b.s, b.imports, l, b.forced, b.o.NoCache) {
				cached = false
				break
			}
		}
		out[t.Name] = cached
	}
	return out
}
