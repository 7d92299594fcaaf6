package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/imgc-dev/imgc/ir"
)

// buildRecord is the last build of each target of a project, by
// RecordKey: each platform of a multi-platform build has its own.
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

// RecordKey is the name of target t's last build in a record: its name
// and platform, so that the plans of a multi-platform build do not
// overwrite each other's.
func RecordKey(t *ir.Target) string { return t.Name + " " + t.Platform.String() }

// LastBuild returns the layers of each target of project, by RecordKey, as
// its last recorded build made them (none when there is no record).
func (s *Store) LastBuild(project string) map[string][]*ir.Layer {
	return s.readRecord(project).Targets
}

// RecordBuild remembers the layers of every built target of p as its last
// build.
func (s *Store) RecordBuild(p *ir.Plan, built map[string]bool) error {
	lk, err := s.Lock("builds")
	if err != nil {
		return err
	}
	defer lk.Unlock()
	rec := s.readRecord(p.Project)
	for _, t := range p.Targets {
		if built[t.Name] {
			rec.Targets[RecordKey(t)] = t.Layers
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
