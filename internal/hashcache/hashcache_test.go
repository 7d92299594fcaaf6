package hashcache

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// oldFiles writes n files with an mtime outside the race window.
func oldFiles(t *testing.T, dir string, n int) []string {
	t.Helper()
	past := time.Now().Add(-time.Hour)
	var paths []string
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("f%04d", i))
		if err := os.WriteFile(p, []byte(fmt.Sprintf("content %d", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, past, past); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func TestReuseAcrossRuns(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "cache", "hashes.json")
	paths := oldFiles(t, dir, 300)

	c := Open(store)
	first, err := c.DigestAll(paths, 8)
	if err != nil {
		t.Fatal(err)
	}
	if c.Reads() != 300 {
		t.Fatalf("first run read %d files, want 300", c.Reads())
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}

	c = Open(store)
	second, err := c.DigestAll(paths, 8)
	if err != nil {
		t.Fatal(err)
	}
	if c.Reads() != 0 {
		t.Errorf("second run read %d files, want 0", c.Reads())
	}
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("digest %d differs across runs", i)
		}
	}

	// A changed file (new size and mtime) is read again, and only it.
	if err := os.WriteFile(paths[7], []byte("changed content"), 0o644); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-30 * time.Minute)
	if err := os.Chtimes(paths[7], past, past); err != nil {
		t.Fatal(err)
	}
	third, err := c.DigestAll(paths, 8)
	if err != nil {
		t.Fatal(err)
	}
	if c.Reads() != 1 || third[7] == first[7] {
		t.Errorf("after editing one file: %d reads, digest changed %v; want 1 read and a new digest", c.Reads(), third[7] != first[7])
	}
}

func TestKnownDigest(t *testing.T) {
	p := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Open("").Digest(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; d != want {
		t.Errorf("digest of an empty file = %s, want %s", d, want)
	}
}

func TestCorruptOrMissingFileIsEmpty(t *testing.T) {
	dir := t.TempDir()
	paths := oldFiles(t, dir, 3)
	for name, content := range map[string]string{"corrupt": "{not json", "wrong version": `{"version":99,"entries":{}}`, "bad digest": `{"version":1,"entries":{"` + paths[0] + `":{"s":9,"m":1,"i":1,"d":"x"}}}`} {
		store := filepath.Join(dir, name+".json")
		if err := os.WriteFile(store, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		c := Open(store)
		if _, err := c.DigestAll(paths, 2); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.Reads() != 3 {
			t.Errorf("%s: %d reads, want 3", name, c.Reads())
		}
		if err := c.Save(); err != nil {
			t.Fatalf("%s: saving over a corrupt file: %v", name, err)
		}
		if c2 := Open(store); func() int64 { c2.DigestAll(paths, 2); return c2.Reads() }() != 0 {
			t.Errorf("%s: the rewritten cache is not used", name)
		}
	}
	if c := Open(filepath.Join(dir, "missing", "x.json")); len(c.entries) != 0 {
		t.Errorf("a missing file gave entries")
	}
}

func TestRecentFilesAreNotPersisted(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "fresh")
	if err := os.WriteFile(p, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "h.json")
	c := Open(store)
	if _, err := c.Digest(p); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c = Open(store)
	if _, err := c.Digest(p); err != nil {
		t.Fatal(err)
	}
	if c.Reads() != 1 {
		t.Errorf("a file modified just now was trusted from the saved cache")
	}
}

func TestMissingFile(t *testing.T) {
	if _, err := Open("").Digest(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Fatal("no error for a missing file")
	}
}

// TestSameSizeAndMTimeEdit: an edit that keeps the size and restores the
// mtime (cp -p, touch -r) is still seen, through the ctime.
func TestSameSizeAndMTimeEdit(t *testing.T) {
	dir := t.TempDir()
	paths := oldFiles(t, dir, 1)
	c := Open(filepath.Join(dir, "hashes.json"))
	before, err := c.Digest(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(paths[0], []byte("content X"), 0o644); err != nil { // same length as "content 0"
		t.Fatal(err)
	}
	if err := os.Chtimes(paths[0], fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	after, err := c.Digest(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Errorf("an edit keeping size and mtime kept the digest %s", before)
	}
}
