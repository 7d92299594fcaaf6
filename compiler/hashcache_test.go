package compiler

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgc-dev/imgc/lang"
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
	cfg := &lang.Config{Dir: dir, Stages: []*lang.Stage{{Kind: lang.KindImage, Name: "x", From: lang.From{Scratch: true},
		Steps: []lang.Step{&lang.Copy{Src: []string{"src/"}, Dest: "/src/"}}}}}
	opts := Options{HashCache: filepath.Join(t.TempDir(), "hashes.json")}
	first := mustCompile(t, cfg, opts).Targets[0].Key()

	victim := filepath.Join(dir, "src/d07/f0007.txt")
	if err := os.WriteFile(victim, []byte("FILE 0007"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(victim, past, past); err != nil {
		t.Fatal(err)
	}
	if second := mustCompile(t, cfg, opts).Targets[0].Key(); second != first {
		t.Fatalf("the second plan read file contents again: key %s, first %s", second, first)
	}
	if third := mustCompile(t, cfg, Options{}).Targets[0].Key(); third == first {
		t.Fatalf("without the hash cache the changed content went unnoticed")
	}
}
