package compiler

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgc-dev/imgc/internal/hashcache"
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
	opts := Options{HashCache: filepath.Join(t.TempDir(), "hashes")}
	first := mustCompile(t, cfg, opts).Targets[0].Key()

	// Tamper with the stored digest of one file: a plan that reads no file
	// contents trusts it (and so gets another key); one that reads the
	// file gets the first key back.
	victim := filepath.Join(dir, "src/d07/f0007.txt")
	fi, err := os.Stat(victim)
	if err != nil {
		t.Fatal(err)
	}
	c := hashcache.Open(opts.HashCache)
	if err := c.Remember(victim, fi, "sha256:"+strings.Repeat("0", 64)); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	if second := mustCompile(t, cfg, opts).Targets[0].Key(); second == first {
		t.Fatalf("the second plan read file contents again: it did not use the stored digest")
	}
	if third := mustCompile(t, cfg, Options{}).Targets[0].Key(); third != first {
		t.Fatalf("without the hash cache the key is %s, want the first plan's %s", third, first)
	}
}
