package runtime

import (
	"github.com/imgc-dev/imgc/ir"
)

// forcedLayers finds the layers of p that run again on every build,
// whatever the cache holds, and says why. Keys do not depend on what a
// parent layer produced, so once a `cache = false` layer ran again the
// cached results after it are stale though their keys still match: every
// later layer of its target, and every layer of a target built on that
// target or reading it (from the first layer that reads it on), runs
// again too. A `cache = false` layer itself is forced with the reason
// "cache = false".
func forcedLayers(p *ir.Plan) map[*ir.Layer]string {
	forced := map[*ir.Layer]string{}
	volatile := map[string]bool{} // targets that rebuild a layer on every build
	for _, t := range p.Targets {
		why := ""
		if t.Base.Kind == ir.BaseTarget && volatile[t.Base.Target] {
			why = ir.ForcedByNoCache(ir.BaseRebuilt(targetKind(p, t.Base.Target), t.Base.Target))
		}
		for _, l := range t.Layers {
			if why != "" {
				forced[l] = why
				why = ir.ParentRebuiltNoCache
				continue
			}
			if l.NoCache {
				forced[l] = ir.NoCache
				why = ir.ParentRebuiltNoCache
				continue
			}
			for _, from := range layerReads(l) {
				if volatile[from] {
					forced[l] = ir.ForcedByNoCache(ir.SourceRebuilt(targetKind(p, from), from))
					why = ir.ParentRebuiltNoCache
					break
				}
			}
		}
		volatile[t.Name] = why != ""
	}
	return forced
}

// layerReads names the targets a layer reads: copy sources and bind
// mounts from another target.
func layerReads(l *ir.Layer) []string {
	var out []string
	for _, st := range l.Steps {
		switch st := st.(type) {
		case *ir.Copy:
			if st.FromTarget != "" {
				out = append(out, st.FromTarget)
			}
		case *ir.Run:
			for _, m := range st.Mounts {
				if m.Type == ir.MountBind && m.FromTarget != "" {
					out = append(out, m.FromTarget)
				}
			}
		}
	}
	return out
}

func targetKind(p *ir.Plan, name string) ir.TargetKind {
	if t := p.Target(name); t != nil {
		return t.Kind
	}
	return ""
}

// neededTargets finds the targets the build must build: the output
// targets, and what a needed target is built on or reads in a layer that
// will run. A stage that only feeds layers the cache holds is skipped, so
// that a build after `imgc cache prune` (which keeps what stored images
// need, not the stages they copied from) does not rebuild it. Whether a
// layer runs is known before building: keys do not depend on what layers
// produce, and a build holds the store's lock, so nothing is pruned
// meanwhile. A plan without output targets builds every target: it would
// build nothing otherwise.
func (s *Store) neededTargets(p *ir.Plan, forced map[*ir.Layer]string, noCache bool) map[string]bool {
	needed := map[string]bool{}
	hasOutput := false
	for _, t := range p.Targets {
		hasOutput = hasOutput || t.Output
	}
	if !hasOutput {
		for _, t := range p.Targets {
			needed[t.Name] = true
		}
		return needed
	}
	for i := len(p.Targets) - 1; i >= 0; i-- {
		t := p.Targets[i]
		if !t.Output && !needed[t.Name] {
			continue
		}
		needed[t.Name] = true
		if t.Base.Kind == ir.BaseTarget {
			// Assembling t needs the base's config and layer blobs.
			needed[t.Base.Target] = true
		}
		explained := map[string]bool{t.Base.Target: true}
		for _, l := range t.Layers {
			reads := layerReads(l)
			for _, from := range reads {
				explained[from] = true
			}
			if len(reads) > 0 && s.willRun(l, forced, noCache) {
				for _, from := range reads {
					needed[from] = true
				}
			}
		}
		// A dependency the layers do not explain is built, to be safe.
		for _, dep := range t.DependsOn {
			if !explained[dep] {
				needed[dep] = true
			}
		}
	}
	return needed
}

// willRun tells whether building l will run it rather than reuse the
// cache.
func (s *Store) willRun(l *ir.Layer, forced map[*ir.Layer]string, noCache bool) bool {
	if noCache || forced[l] != "" {
		return true
	}
	_, ok, _ := s.lookupKey(l.Key)
	return !ok
}
