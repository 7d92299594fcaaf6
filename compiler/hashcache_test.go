package compiler

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgc-dev/imgc/model"
)

// TestReplanReadsNoFileContents shows that a second plan of an unchanged
// tree takes digests from the hash cache: a file rewritten with the same
// size, mtime and inode keeps its old digest, which only happens if its
// content is not read again.
func TestReplanReadsNoFileContents(t *testing.T) {
	files := map[string]string{}
	for i := range 2000 {
		files[fmt.Sprintf("src/d%02d/f%04d.txt", i%40, i)] = fmt.Sprintf("file %04d", i)
	}
	dir := writeTree(t, files)
	past := time.Now().Add(-time.Hour)
	for p := range files {
		if err := os.Chtimes(filepath.Join(dir, p), past, past); err != nil {
			t.Fatal(err)
		}
	}
	cfg := &model.Config{Dir: dir, Stages: []*model.Stage{{Kind: model.KindImage, Name: "x", From: model.From{Base: &model.Scratch{}},
		Steps: []model.Step{&model.Copy{FileSpec: model.FileSpec{Src: []string{"src/"}, Dest: "/src/"}}}}}}
	opts := Options{HashCache: filepath.Join(t.TempDir(), "hashes.json")}
	first := mustCompile(t, cfg, opts).Targets[0].Key()

	// Tamper with the stored digest of one file: a plan that reads no file
	// contents trusts it (and so gets another key); one that reads the
	// file gets the first key back.
	victim := filepath.Join(dir, "src/d07/f0007.txt")
	raw, err := os.ReadFile(opts.HashCache)
	if err != nil {
		t.Fatal(err)
	}
	var stored struct {
		Version int                                   `json:"version"`
		Entries map[string]map[string]json.RawMessage `json:"entries"`
	}
	if err := json.Unmarshal(raw, &stored); err != nil {
		t.Fatal(err)
	}
	if stored.Entries[victim] == nil {
		t.Fatalf("the hash cache has no entry for %s", victim)
	}
	stored.Entries[victim]["d"] = json.RawMessage(`"sha256:` + strings.Repeat("0", 64) + `"`)
	raw, _ = json.Marshal(stored)
	if err := os.WriteFile(opts.HashCache, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if second := mustCompile(t, cfg, opts).Targets[0].Key(); second == first {
		t.Fatalf("the second plan read file contents again: it did not use the stored digest")
	}
	if third := mustCompile(t, cfg, Options{}).Targets[0].Key(); third != first {
		t.Fatalf("without the hash cache the key is %s, want the first plan's %s", third, first)
	}
}
