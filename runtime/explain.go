package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/imgc-dev/imgc/compiler/ir"
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

// recordBuild remembers the layers of every target of p as its last build.
func (s *Store) recordBuild(p *ir.Plan) error {
	lk, err := s.lock("builds")
	if err != nil {
		return err
	}
	defer lk.Unlock()
	rec := s.readRecord(p.Project)
	for _, t := range p.Targets {
		rec.Targets[t.Name] = t.Layers
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
// from ir.MissReason. A key in the index whose blob is gone is a miss "not
// in the cache (pruned)".
func (s *Store) Explain(p *ir.Plan) map[ir.CacheKey]ir.Status {
	rec := s.readRecord(p.Project)
	out := map[ir.CacheKey]ir.Status{}
	for _, t := range p.Targets {
		prev := rec.Targets[t.Name]
		parentRebuilt := false
		for i, l := range t.Layers {
			e, ok, pruned := s.lookupKey(l.Key)
			if ok && !l.NoCache {
				out[l.Key] = ir.Status{Hit: true, Empty: e.Empty}
				parentRebuilt = false
				continue
			}
			pl := previousLayer(prev, l, i)
			// A parent that hits but is not the last build's parent (the
			// layers before were merged or reordered) changes this layer too.
			reason := ir.MissReason(pl, l, parentRebuilt || (i > 0 && pl != nil && pl.Parent != l.Parent))
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
