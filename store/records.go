package store

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
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
// differ from what it holds: a sidecar file keeps a print of each
// target's recorded layers (layersPrint) and the record file's stat when
// it was written.
func (s *Store) RecordBuild(p *ir.Plan, built map[string]bool) error {
	lk, err := s.Lock("builds")
	if err != nil {
		return err
	}
	defer lk.Unlock()
	prints := map[string]string{}
	for _, t := range p.Targets {
		if built[t.Name] {
			fp, err := layersPrint(t.Layers)
			if err != nil {
				return fmt.Errorf("recording the build: %w", err)
			}
			prints[RecordKey(t)] = fp
		}
	}
	path := s.recordPath(p.Project)
	if err := recordImages(path, p, built); err != nil {
		return fmt.Errorf("recording the build: %w", err)
	}
	sums := readRecordSums(path)
	current := sums.describes(path)
	if current && sums.holds(prints) {
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
	for _, t := range p.Targets {
		if built[t.Name] {
			data, err := json.Marshal(t.Layers)
			if err != nil {
				return fmt.Errorf("recording the build: %w", err)
			}
			rec.Targets[RecordKey(t)] = data
		}
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("recording the build: %w", err)
	}
	if err := writeFileAtomic(path, data); err != nil {
		return fmt.Errorf("recording the build: %w", err)
	}
	// The sums describe the record just written: the prints of the
	// targets written now, and those of the targets kept from the record
	// before when the sums described it. The record stays right whether
	// or not they can be saved.
	kept := map[string]string{}
	if current {
		for k, v := range sums.Targets {
			if _, ok := rec.Targets[k]; ok {
				kept[k] = v
			}
		}
	}
	for k, v := range prints {
		kept[k] = v
	}
	writeRecordSums(path, kept)
	return nil
}

// ImagePrint stands for what an output target's image is: its config and
// tags, then (after a space) its base and layers by their keys, then the
// prints of each config field, the tags and the annotations (fieldPrints).
// A plan
// whose layers all hit still writes a new image when it changed: a label,
// a tag, or other layers than its last build's, all of them in the cache
// (a variable set back to a value built before), which plan says.
func ImagePrint(t *ir.Target) string {
	h := sha256.New()
	cfg, _ := json.Marshal(t.Config)
	h.Write(cfg)
	for _, tag := range t.Tags {
		h.Write([]byte("\x00" + tag))
	}
	// Annotations are in the fields' prints only: the first hash is what
	// earlier versions recorded, so that their prints still compare.
	var annotations []byte
	if len(t.Annotations) > 0 {
		annotations, _ = json.Marshal(t.Annotations)
	}
	l := sha256.New()
	l.Write([]byte(t.Base.Key.Hex()))
	for _, layer := range t.Layers {
		l.Write([]byte("\x00" + layer.Key.Hex()))
	}
	return hex.EncodeToString(h.Sum(nil)) + " " + hex.EncodeToString(l.Sum(nil)) + " " + fieldPrints(cfg, t.Tags, annotations)
}

// fieldPrints is, for ImagePrint, a short hash of each config field that
// is set and of the tags ("cmd=1a2b3c4d,tags=..."), so that plan can name
// what changed.
func fieldPrints(cfg []byte, tags []string, annotations []byte) string {
	fields := map[string]json.RawMessage{}
	json.Unmarshal(cfg, &fields)
	if len(tags) > 0 {
		t, _ := json.Marshal(tags)
		fields["tags"] = t
	}
	if len(annotations) > 0 {
		fields["annotations"] = annotations
	}
	out := []string{"f"} // so that a config with no field set still has prints
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		sum := sha256.Sum256(fields[k])
		out = append(out, k+"="+hex.EncodeToString(sum[:4]))
	}
	return strings.Join(out, ",")
}

// changedFields names the fields whose prints differ (fieldPrints), as
// plan says them ("entrypoint", "labels"); nil when either print has none.
func changedFields(was, now string) []string {
	if was == "" || now == "" {
		return nil
	}
	parse := func(s string) map[string]string {
		m := map[string]string{}
		for _, kv := range strings.Split(s, ",")[1:] {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		return m
	}
	a, b := parse(was), parse(now)
	names := map[string]string{"expose": "exposed ports", "stop_signal": "stop signal", "entrypoint_set": "entrypoint", "cmd_set": "cmd", "base_env_labels": "labels"}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if b[k] != a[k] {
			out = append(out, cmp.Or(names[k], k))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if _, ok := a[k]; !ok {
			out = append(out, cmp.Or(names[k], k))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func imagesPath(record string) string { return strings.TrimSuffix(record, ".json") + ".images" }

// recordImages keeps the ImagePrint of each built output target of p
// beside the record at path, written only when one changed.
func recordImages(path string, p *ir.Plan, built map[string]bool) error {
	prints := readImagePrints(path)
	changed := false
	for _, t := range p.Targets {
		if built[t.Name] && t.Output {
			if fp := ImagePrint(t); prints[RecordKey(t)] != fp {
				prints[RecordKey(t)], changed = fp, true
			}
		}
	}
	if !changed {
		return nil
	}
	data, err := json.Marshal(prints)
	if err != nil {
		return err
	}
	return writeFileAtomic(imagesPath(path), data)
}

func readImagePrints(record string) map[string]string {
	out := map[string]string{}
	data, err := os.ReadFile(imagesPath(record))
	if err != nil || len(data) > 1<<20 || json.Unmarshal(data, &out) != nil {
		return map[string]string{}
	}
	return out
}

// ChangedImages says, for each output target of p whose image differs
// from what its last recorded build made, what differs: the config fields
// ("labels and tags"; "config or tags" for a print of an earlier
// version), "layers", or both, separated by "; " (ImagePrint). A target without a record is not
// among them; a record from before layers were printed compares the
// config and tags alone.
func (s *Store) ChangedImages(p *ir.Plan) map[string]string {
	last := readImagePrints(s.recordPath(p.Project))
	out := map[string]string{}
	for _, t := range p.Targets {
		fp, ok := last[RecordKey(t)]
		if !ok || !t.Output {
			continue
		}
		was, wasLayers, printed := strings.Cut(fp, " ")
		now, nowLayers, _ := strings.Cut(ImagePrint(t), " ")
		wasLayers, wasFields, _ := strings.Cut(wasLayers, " ")
		nowLayers, nowFields, _ := strings.Cut(nowLayers, " ")
		var what []string
		if was != now || (wasFields != "" && nowFields != wasFields) {
			if fields := changedFields(wasFields, nowFields); len(fields) > 1 {
				what = append(what, strings.Join(fields[:len(fields)-1], ", ")+" and "+fields[len(fields)-1])
			} else if len(fields) == 1 {
				what = append(what, fields[0])
			} else {
				what = append(what, "config or tags")
			}
		}
		if printed && wasLayers != nowLayers {
			what = append(what, "layers")
		}
		if len(what) > 0 {
			out[t.Name] = strings.Join(what, "; ")
		}
	}
	return out
}

// layersPrint stands for the JSON of a target's layers in the record
// without encoding all of it: a copy of 50,000 files has 100,000 key
// inputs, megabytes of JSON to encode on every build only to learn that
// nothing changed. A layer whose key is ir.LayerKey of its parent and
// inputs (checked here by hashing them again, several times cheaper than
// encoding them) is printed without its inputs, which the key then
// stands for; any other layer is printed whole, and a flag per layer
// says which.
func layersPrint(layers []*ir.Layer) (string, error) {
	h := sha256.New()
	slim := make([]ir.Layer, len(layers))
	flags := make([]byte, len(layers))
	for i, l := range layers {
		slim[i] = *l
		if ir.LayerKey(l.Parent, l.Inputs) == l.Key {
			slim[i].Inputs = nil
			flags[i] = 1
		}
	}
	data, err := json.Marshal(slim)
	if err != nil {
		return "", err
	}
	h.Write(flags)
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// recordSums is a record's sidecar: the record file's stat when it was
// written, and the print (layersPrint) of each target's layers in it.
type recordSums struct {
	// Format is recordSumsFormat: sums of another format (session 5's
	// held digests of the whole JSON) are not used.
	Format  int               `json:"format"`
	Size    int64             `json:"size"`
	MTime   int64             `json:"mtime"`
	Inode   uint64            `json:"inode"`
	Targets map[string]string `json:"targets"`
}

const recordSumsFormat = 2

func sumsPath(record string) string { return strings.TrimSuffix(record, ".json") + ".sums" }

func readRecordSums(record string) *recordSums {
	data, err := os.ReadFile(sumsPath(record))
	if err != nil || len(data) > 1<<20 {
		return nil
	}
	var rs recordSums
	if json.Unmarshal(data, &rs) != nil || rs.Format != recordSumsFormat {
		return nil
	}
	return &rs
}

// describes tells whether the record file is still the one the sums were
// taken of.
func (rs *recordSums) describes(record string) bool {
	if rs == nil {
		return false
	}
	size, mtime, ino, ok := fileStat(record)
	return ok && size == rs.Size && mtime == rs.MTime && ino == rs.Inode
}

// holds tells whether the sums give each target of prints that print.
func (rs *recordSums) holds(prints map[string]string) bool {
	for k, fp := range prints {
		if rs.Targets[k] != fp {
			return false
		}
	}
	return true
}

func writeRecordSums(record string, prints map[string]string) {
	size, mtime, ino, ok := fileStat(record)
	if !ok {
		return
	}
	rs := recordSums{Format: recordSumsFormat, Size: size, MTime: mtime, Inode: ino, Targets: prints}
	if data, err := json.Marshal(rs); err == nil {
		writeFileAtomic(sumsPath(record), data)
	}
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
