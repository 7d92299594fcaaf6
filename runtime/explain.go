package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/imgc-dev/imgc/ir"
)

// buildRecord is the last build of each target of a project.
type buildRecord struct {
	Project string                 `json:"project"`
	Targets map[string][]*ir.Layer `json:"targets"`
}

func (s *Store) recordPath(project string) string {
	sum := sha256.Sum256([]byte(project))
	return s.path("builds", hex.EncodeToString(sum[:])+".json")
}

func (s *Store) readRecord(project string) *buildRecord {
	rec := &buildRecord{Project: project, Targets: map[string][]*ir.Layer{}}
	data, err := os.ReadFile(s.recordPath(project))
	if err != nil {
		return rec
	}
	if err := json.Unmarshal(data, rec); err != nil || rec.Targets == nil {
		return &buildRecord{Project: project, Targets: map[string][]*ir.Layer{}}
	}
	return rec
}

// recordBuild remembers the layers of every built target of p as its last
// build.
func (s *Store) recordBuild(p *ir.Plan, built map[string]bool) error {
	lk, err := s.lock("builds")
	if err != nil {
		return err
	}
	defer lk.Unlock()
	rec := s.readRecord(p.Project)
	for _, t := range p.Targets {
		if built[t.Name] {
			rec.Targets[t.Name] = t.Layers
		}
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("recording the build: %w", err)
	}
	if err := writeFileAtomic(s.recordPath(p.Project), data); err != nil {
		return fmt.Errorf("recording the build: %w", err)
	}
	return nil
}

// Explain returns each layer's cache status in p, comparing with the last
// recorded build of each target of p.Project: hit, or miss with a reason
// from ir.MissReasonOn. A key in the index whose blob is gone is a miss "not
// in the cache (pruned)". A layer the build runs whatever the cache holds
// (after a `cache = false` layer, see forcedLayers) misses with a reason
// naming that cause. A stage the build skips, because every layer that
// reads it hits, misses with the reason ir.SkippedStage unless cached.
func (s *Store) Explain(p *ir.Plan) map[ir.CacheKey]ir.Status {
	rec := s.readRecord(p.Project)
	forced := forcedLayers(p)
	needed := s.neededTargets(p, forced, false)
	out := map[ir.CacheKey]ir.Status{}
	for _, t := range p.Targets {
		if !needed[t.Name] {
			for _, l := range t.Layers {
				if e, ok, _ := s.lookupKey(l.Key); ok && forced[l] == "" {
					out[l.Key] = ir.Status{Hit: true, Empty: e.Empty}
				} else {
					out[l.Key] = ir.Status{Reason: ir.SkippedStage, Skipped: true}
				}
			}
			continue
		}
		prev := rec.Targets[t.Name]
		baseKind := targetKind(p, t.Base.Target)
		parentRebuilt := false
		for i, l := range t.Layers {
			e, ok, pruned := s.lookupKey(l.Key)
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
