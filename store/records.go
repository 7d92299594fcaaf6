package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"

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
// build. A record holds every file a copy took, megabytes for a large
// context, so it is read and rewritten only when a built target's layers
// differ from what it holds: a sidecar file keeps a digest of each
// target's recorded layers and the record file's stat when it was written.
func (s *Store) RecordBuild(p *ir.Plan, built map[string]bool) error {
	lk, err := s.Lock("builds")
	if err != nil {
		return err
	}
	defer lk.Unlock()
	encoded := map[string][]byte{}
	for _, t := range p.Targets {
		if built[t.Name] {
			data, err := json.Marshal(t.Layers)
			if err != nil {
				return fmt.Errorf("recording the build: %w", err)
			}
			encoded[RecordKey(t)] = data
		}
	}
	path := s.recordPath(p.Project)
	sums := readRecordSums(path)
	if sums.matches(path, encoded) {
		return nil
	}
	rec := struct {
		Project string                     `json:"project"`
		Targets map[string]json.RawMessage `json:"targets"`
	}{Project: p.Project}
	if data, err := os.ReadFile(path); err == nil {
		if json.Unmarshal(data, &rec) != nil {
			rec.Targets = nil
		}
		rec.Project = p.Project
	}
	if rec.Targets == nil {
		rec.Targets = map[string]json.RawMessage{}
	}
	for k, data := range encoded {
		rec.Targets[k] = data
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("recording the build: %w", err)
	}
	if err := writeFileAtomic(path, data); err != nil {
		return fmt.Errorf("recording the build: %w", err)
	}
	// The sums describe the record just written; the record stays right
	// whether or not they can be saved.
	writeRecordSums(path, rec.Targets)
	return nil
}

// recordSums is a record's sidecar: the record file's stat when it was
// written, and the sha256 of each target's layers in it.
type recordSums struct {
	Size    int64             `json:"size"`
	MTime   int64             `json:"mtime"`
	Inode   uint64            `json:"inode"`
	Targets map[string]string `json:"targets"`
}

func sumsPath(record string) string { return strings.TrimSuffix(record, ".json") + ".sums" }

func readRecordSums(record string) *recordSums {
	data, err := os.ReadFile(sumsPath(record))
	if err != nil || len(data) > 1<<20 {
		return nil
	}
	var rs recordSums
	if json.Unmarshal(data, &rs) != nil {
		return nil
	}
	return &rs
}

// matches tells whether the record file is still the one the sums were
// taken of, and holds exactly encoded for each of its targets.
func (rs *recordSums) matches(record string, encoded map[string][]byte) bool {
	if rs == nil {
		return false
	}
	size, mtime, ino, ok := fileStat(record)
	if !ok || size != rs.Size || mtime != rs.MTime || ino != rs.Inode {
		return false
	}
	for k, data := range encoded {
		if rs.Targets[k] != sumOf(data) {
			return false
		}
	}
	return true
}

func writeRecordSums(record string, targets map[string]json.RawMessage) {
	size, mtime, ino, ok := fileStat(record)
	if !ok {
		return
	}
	rs := recordSums{Size: size, MTime: mtime, Inode: ino, Targets: map[string]string{}}
	for k, data := range targets {
		rs.Targets[k] = sumOf(data)
	}
	if data, err := json.Marshal(rs); err == nil {
		writeFileAtomic(sumsPath(record), data)
	}
}

func sumOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func fileStat(path string) (size, mtime int64, ino uint64, ok bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, 0, false
	}
	if st, isStat := fi.Sys().(*syscall.Stat_t); isStat {
		ino = st.Ino
	}
	return fi.Size(), fi.ModTime().UnixNano(), ino, true
}
