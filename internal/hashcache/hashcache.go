// Package hashcache remembers the sha256 of files by (path, size, mtime,
// inode, ctime), so hashing an unchanged tree again reads no file contents. The
// cache persists to one JSON file, written atomically; a missing or corrupt
// file is an empty cache, never an error.
//
// It trusts the stat tuple as git's index does. A file written within
// the timestamp granularity after being hashed could keep its tuple, so
// entries younger than raceWindow are used for this run but not saved.
package hashcache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// raceWindow is how recent a modification time must be for an entry not
// to be persisted.
const raceWindow = 2 * time.Second

// maxEntries bounds the persisted file; entries used in this run are kept
// first.
const maxEntries = 200_000

const version = 1

type entry struct {
	Size  int64  `json:"s"`
	MTime int64  `json:"m"`
	Inode uint64 `json:"i"`
	// CTime catches an edit that restores the size and mtime (cp -p,
	// touch -r): the kernel sets ctime on every change.
	CTime  int64  `json:"c"`
	Digest string `json:"d"`
	used   bool
	fresh  bool
}

type fileFormat struct {
	Version int               `json:"version"`
	Entries map[string]*entry `json:"entries"`
}

// Cache is safe for concurrent use.
type Cache struct {
	path    string
	mu      sync.Mutex
	entries map[string]*entry
	dirty   bool
	reads   atomic.Int64
}

// Open loads the cache persisted at path; "" makes a cache that lives
// only in memory.
func Open(path string) *Cache {
	c := &Cache{path: path, entries: map[string]*entry{}}
	if path == "" {
		return c
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return c
	}
	var f fileFormat
	if json.Unmarshal(b, &f) != nil || f.Version != version {
		return c
	}
	for p, e := range f.Entries {
		if e != nil && len(e.Digest) == len("sha256:")+64 {
			c.entries[p] = e
		}
	}
	return c
}

// Reads is how many files' contents the cache has read, for tests and
// statistics.
func (c *Cache) Reads() int64 { return c.reads.Load() }

// Digest returns "sha256:<hex>" of the regular file at path (absolute),
// reading it only when its size, mtime, inode or ctime changed since it was
// last hashed.
func (c *Cache) Digest(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	ino, ctime := inodeAndCTime(fi)
	key := entry{Size: fi.Size(), MTime: fi.ModTime().UnixNano(), Inode: ino, CTime: ctime}
	c.mu.Lock()
	if e, ok := c.entries[path]; ok && e.Size == key.Size && e.MTime == key.MTime && e.Inode == key.Inode && e.CTime == key.CTime {
		e.used = true
		c.mu.Unlock()
		return e.Digest, nil
	}
	c.mu.Unlock()

	d, err := c.hashFile(path)
	if err != nil {
		return "", err
	}
	key.Digest, key.used = d, true
	key.fresh = time.Since(fi.ModTime()) < raceWindow
	c.mu.Lock()
	c.entries[path] = &key
	c.dirty = true
	c.mu.Unlock()
	return d, nil
}

func (c *Cache) hashFile(path string) (string, error) {
	c.reads.Add(1)
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// DigestAll hashes paths with up to workers goroutines (0 means 4) and
// returns their digests in the same order, or the first error.
func (c *Cache) DigestAll(paths []string, workers int) ([]string, error) {
	if workers <= 0 {
		workers = 4
	}
	out := make([]string, len(paths))
	errs := make([]error, len(paths))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, len(paths)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(paths) {
					return
				}
				out[i], errs[i] = c.Digest(paths[i])
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Save persists the cache when something changed, atomically (a temporary
// file renamed over the old one). A cache opened with path "" saves
// nothing.
func (c *Cache) Save() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.path == "" || !c.dirty {
		return nil
	}
	f := fileFormat{Version: version, Entries: make(map[string]*entry, len(c.entries))}
	for p, e := range c.entries {
		if e.used && !e.fresh {
			f.Entries[p] = e
		}
	}
	for p, e := range c.entries {
		if len(f.Entries) >= maxEntries {
			break
		}
		if !e.used {
			f.Entries[p] = e
		}
	}
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encoding hash cache: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o755); err != nil {
		return fmt.Errorf("writing hash cache: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".hashcache-*")
	if err != nil {
		return fmt.Errorf("writing hash cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("writing hash cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing hash cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		return fmt.Errorf("writing hash cache: %w", err)
	}
	c.dirty = false
	return nil
}

func inodeAndCTime(fi os.FileInfo) (uint64, int64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino, st.Ctim.Sec*1e9 + st.Ctim.Nsec
	}
	return 0, 0
}
