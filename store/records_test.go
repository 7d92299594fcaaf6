package store_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// recordPlan is a plan of one copy layer of files files, each an input of
// its key as the compiler lists them.
func recordPlan(files int) *ir.Plan {
	l := &ir.Layer{Name: "copy", Key: ir.KeyOf([]byte("k"))}
	for i := range files {
		l.Inputs = append(l.Inputs, ir.KeyInput{Name: fmt.Sprintf("file src/f%d", i), Value: "sha256:00"})
	}
	t := &ir.Target{Name: "app", Kind: ir.KindImage, Platform: ir.Platform{OS: "linux", Architecture: "amd64"}, Layers: []*ir.Layer{l}}
	return &ir.Plan{Project: "/ctx", Targets: []*ir.Target{t}}
}

// recordFile is the one record of the store at dir.
func recordFile(t *testing.T, dir string) (string, os.FileInfo) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "builds", "*.json"))
	if len(m) != 1 {
		t.Fatalf("records %v, want one", m)
	}
	fi, err := os.Stat(m[0])
	if err != nil {
		t.Fatal(err)
	}
	return m[0], fi
}

// TestRecordBuildRewritesOnlyChanges: recording the same build again
// leaves the record file alone; a changed build, or a record changed
// behind the store's back, is written again.
func TestRecordBuildRewritesOnlyChanges(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	built := map[string]bool{"app": true}
	p := recordPlan(100)
	if err := s.RecordBuild(p, built); err != nil {
		t.Fatal(err)
	}
	path, first := recordFile(t, dir)
	if err := s.RecordBuild(recordPlan(100), built); err != nil {
		t.Fatal(err)
	}
	if _, again := recordFile(t, dir); !os.SameFile(first, again) || !again.ModTime().Equal(first.ModTime()) {
		t.Errorf("an unchanged build rewrote the record")
	}

	changed := recordPlan(101)
	if err := s.RecordBuild(changed, built); err != nil {
		t.Fatal(err)
	}
	if _, again := recordFile(t, dir); os.SameFile(first, again) {
		t.Errorf("a changed build left the record alone")
	}
	// What LastBuild gives is what was recorded (compared as JSON, the
	// record's own form).
	want, _ := json.Marshal(map[string][]*ir.Layer{store.RecordKey(changed.Targets[0]): changed.Targets[0].Layers})
	got, _ := json.Marshal(s.LastBuild("/ctx"))
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("LastBuild (-want +got):\n%s", diff)
	}

	// A record replaced by something else is not trusted to be current.
	if err := os.WriteFile(path, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordBuild(changed, built); err != nil {
		t.Fatal(err)
	}
	if got := len(s.LastBuild("/ctx")); got != 1 {
		t.Errorf("after the record was replaced, LastBuild has %d targets, want 1", got)
	}
}

// keyedPlan is recordPlan with each layer's key made from its inputs, as
// the compiler makes it, and a second target whose layers are given.
func keyedPlan(files int, value string, other []*ir.Layer) *ir.Plan {
	p := recordPlan(files)
	l := p.Targets[0].Layers[0]
	for i := range l.Inputs {
		l.Inputs[i].Value = value
	}
	l.Key = ir.LayerKey(l.Parent, l.Inputs)
	p.Targets = append(p.Targets, &ir.Target{Name: "tool", Kind: ir.KindImage, Platform: p.Targets[0].Platform, Layers: other})
	return p
}

// TestRecordBuildKeyStandsForInputs: where a layer's key is made from its
// inputs, the record is still rewritten exactly when what it would hold
// changes: an input with a new key, an input changed under the same key
// (then the key no longer stands for the inputs), a target recorded
// before and built alone later.
func TestRecordBuildKeyStandsForInputs(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	tool := []*ir.Layer{{Name: "tool", Key: ir.KeyOf([]byte("t"))}}
	both := map[string]bool{"app": true, "tool": true}
	app := map[string]bool{"app": true}
	step := func(what string, p *ir.Plan, built map[string]bool, rewrite bool) {
		t.Helper()
		_, before := recordFile(t, dir)
		if err := s.RecordBuild(p, built); err != nil {
			t.Fatal(err)
		}
		_, after := recordFile(t, dir)
		if got := !os.SameFile(before, after); got != rewrite {
			t.Errorf("%s: rewritten %v, want %v", what, got, rewrite)
		}
		want, _ := json.Marshal(p.Targets[0].Layers)
		got, _ := json.Marshal(s.LastBuild("/ctx")[store.RecordKey(p.Targets[0])])
		if rewrite && string(got) != string(want) {
			t.Errorf("%s: the record holds other layers than the build's", what)
		}
	}
	if err := s.RecordBuild(keyedPlan(50, "sha256:00", tool), both); err != nil {
		t.Fatal(err)
	}
	step("the same build", keyedPlan(50, "sha256:00", tool), both, false)
	step("one target of it alone", keyedPlan(50, "sha256:00", tool), app, false)
	step("an input changed, and its key", keyedPlan(50, "sha256:11", tool), app, true)
	step("the other target unchanged, after the first was rewritten", keyedPlan(50, "sha256:11", tool), both, false)
	p := keyedPlan(50, "sha256:11", tool)
	p.Targets[0].Layers[0].Inputs[3].Value = "sha256:22" // the key stays
	step("an input changed under the same key", p, app, true)
	step("the other target changed", keyedPlan(50, "sha256:11", []*ir.Layer{{Name: "tool", Key: ir.KeyOf([]byte("u"))}}), both, true)
}
