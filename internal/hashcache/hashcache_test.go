package hashcache

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const sha256Size = 32

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
	store := filepath.Join(dir, "cache", "hashes")
	paths := oldFiles(t, dir, 300)

	c := Open(store)
	first, err := c.DigestAll(files(paths), 8)
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
	second, err := c.DigestAll(files(paths), 8)
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
	third, err := c.DigestAll(files(paths), 8)
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

// files gives paths as DigestAll takes them, without stats.
func files(paths []string) []File {
	out := make([]File, len(paths))
	for i, p := range paths {
		out[i] = File{Path: p}
	}
	return out
}

// TestCorruptOrMissingShardIsEmpty damages the saved shards in each way a
// crash, a full disk or a stray write could, and checks that every file is
// then hashed again (and gets its right digest), and that the cache saved
// afterwards is used again.
func TestCorruptOrMissingShardIsEmpty(t *testing.T) {
	dir := t.TempDir()
	paths := oldFiles(t, dir, 40)
	want, err := Open("").DigestAll(files(paths), 2)
	if err != nil {
		t.Fatal(err)
	}
	damage := map[string]func([]byte) []byte{
		"truncated":      func(b []byte) []byte { return b[:len(b)/2] },
		"empty":          func([]byte) []byte { return nil },
		"flipped digest": func(b []byte) []byte { b[len(b)-5] ^= 1; return b },
		"flipped stat":   func(b []byte) []byte { b[len(b)-4-sha256Size-3] ^= 0x40; return b },
		"wrong magic":    func(b []byte) []byte { b[7] = 1; return b },
		"trailing data":  func(b []byte) []byte { return append(b, 0) },
		"oversized":      func(b []byte) []byte { return b }, // made sparse below
		"json":           func([]byte) []byte { return []byte(`{"version":1,"entries":{}}`) },
	}
	for name, f := range damage {
		t.Run(name, func(t *testing.T) {
			store := filepath.Join(t.TempDir(), "hashes")
			c := Open(store)
			if _, err := c.DigestAll(files(paths), 2); err != nil {
				t.Fatal(err)
			}
			if err := c.Save(); err != nil {
				t.Fatal(err)
			}
			shards, _ := filepath.Glob(filepath.Join(store, "*"))
			if len(shards) < 10 {
				t.Fatalf("40 files saved into %d shards", len(shards))
			}
			for _, sh := range shards {
				b, err := os.ReadFile(sh)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(sh, f(b), 0o644); err != nil {
					t.Fatal(err)
				}
				if name == "oversized" {
					if err := os.Truncate(sh, maxShardFile+1); err != nil {
						t.Fatal(err)
					}
				}
			}
			c = Open(store)
			got, err := c.DigestAll(files(paths), 2)
			if err != nil {
				t.Fatal(err)
			}
			if c.Reads() != int64(len(paths)) {
				t.Errorf("%d reads, want %d", c.Reads(), len(paths))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("digests (-want +got):\n%s", diff)
			}
			if err := c.Save(); err != nil {
				t.Fatalf("saving over a damaged cache: %v", err)
			}
			c = Open(store)
			if _, err := c.DigestAll(files(paths), 2); err != nil || c.Reads() != 0 {
				t.Errorf("the rewritten cache is not used: %d reads, %v", c.Reads(), err)
			}
		})
	}
	c := Open(filepath.Join(dir, "missing"))
	if _, err := c.DigestAll(files(paths[:3]), 2); err != nil || c.Reads() != 3 {
		t.Errorf("a missing cache: %d reads, %v", c.Reads(), err)
	}
}

// TestSaveRewritesOnlyChangedShards: after one file changes, one shard
// file is written again and the others keep their modification times.
func TestSaveRewritesOnlyChangedShards(t *testing.T) {
	dir := t.TempDir()
	paths := oldFiles(t, dir, 200)
	store := filepath.Join(dir, "hashes")
	c := Open(store)
	if _, err := c.DigestAll(files(paths), 4); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-time.Hour)
	shards, _ := filepath.Glob(filepath.Join(store, "*"))
	for _, sh := range shards {
		os.Chtimes(sh, long, long)
	}
	if err := os.WriteFile(paths[3], []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	c = Open(store)
	if _, err := c.DigestAll(files(paths), 4); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	var rewritten []string
	for _, sh := range shards {
		if fi, err := os.Stat(sh); err == nil && fi.ModTime().After(long.Add(time.Minute)) {
			rewritten = append(rewritten, filepath.Base(sh))
		}
	}
	if want := []string{fmt.Sprintf("%02x", shardOf(paths[3]))}; !cmp.Equal(want, rewritten) {
		t.Errorf("rewritten shards %v, want %v", rewritten, want)
	}
}

// TestDigestInfoUsesTheGivenStat: a stat from a walk serves as the
// file's; a file that changed since the cache saw it is hashed again.
func TestDigestInfoUsesTheGivenStat(t *testing.T) {
	dir := t.TempDir()
	paths := oldFiles(t, dir, 2)
	store := filepath.Join(dir, "hashes")
	c := Open(store)
	fi, err := os.Lstat(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.DigestInfo(paths[0], fi)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c = Open(store)
	if d, err := c.DigestInfo(paths[0], fi); err != nil || d != first || c.Reads() != 0 {
		t.Errorf("same stat: %s, %d reads, %v; want %s from the cache", d, c.Reads(), err, first)
	}
	if err := os.WriteFile(paths[0], []byte("content 9"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi2, _ := os.Lstat(paths[0])
	if d, err := c.DigestInfo(paths[0], fi2); err != nil || d == first || c.Reads() != 1 {
		t.Errorf("new stat: %s, %d reads, %v; want a new digest read from the file", d, c.Reads(), err)
	}
}

func TestRecentFilesAreNotPersisted(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "fresh")
	if err := os.WriteFile(p, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "h")
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
	c := Open(filepath.Join(dir, "hashes"))
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
