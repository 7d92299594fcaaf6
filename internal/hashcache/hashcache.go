// Package hashcache remembers the sha256 of files by (path, size, mtime,
// inode, ctime), so hashing an unchanged tree again reads no file contents.
//
// The cache persists to a directory of shards, each a compact binary file
// (see format.go) holding the entries whose path hashes to it, loaded the
// first time a path of it is looked up and rewritten atomically only when
// one of its entries changed: editing one file of 50,000 rewrites one
// shard. A missing, truncated, oversized or corrupt shard (its checksum
// does not match) is an empty one, so the worst a damaged cache does is
// make files be hashed again, never give a wrong digest.
//
// It trusts the stat tuple as git's index does. A file written within
// the timestamp granularity after being hashed could keep its tuple, so
// entries younger than raceWindow are used for this run but not saved.
package hashcache

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// raceWindow is how recent a modification time must be for an entry not
// to be persisted.
const raceWindow = 2 * time.Second

// maxEntries bounds the persisted cache (maxEntries/shards a shard);
// entries used in this run are kept first.
const maxEntries = 200_000

// shards is the number of shard files; a path's shard is a hash of it.
const shards = 64

type entry struct {
	size, mtime int64
	ino         uint64
	// ctime catches an edit that restores the size and mtime (cp -p,
	// touch -r): the kernel sets ctime on every change.
	ctime int64
	sum   [sha256.Size]byte
	used  bool
	fresh bool
}

func (e *entry) sameStat(o *entry) bool {
	return e.size == o.size && e.mtime == o.mtime && e.ino == o.ino && e.ctime == o.ctime
}

type shard struct {
	once    sync.Once
	mu      sync.Mutex
	entries map[string]*entry
	dirty   bool
}

// Cache is safe for concurrent use.
type Cache struct {
	dir    string
	shards [shards]shard
	reads  atomic.Int64
}

// Open returns the cache persisted in the directory dir, whose shards load
// as they are needed; "" makes a cache that lives only in memory.
func Open(dir string) *Cache {
	return &Cache{dir: dir}
}

// shardOf picks the shard of path with FNV-1a: the same in every run.
func shardOf(path string) int {
	h := uint32(2166136261)
	for i := 0; i < len(path); i++ {
		h ^= uint32(path[i])
		h *= 16777619
	}
	return int(h % shards)
}

func (c *Cache) shard(path string) *shard {
	i := shardOf(path)
	sh := &c.shards[i]
	sh.once.Do(func() {
		sh.entries = map[string]*entry{}
		if c.dir != "" {
			loadShard(c.shardPath(i), sh.entries)
		}
	})
	return sh
}

func (c *Cache) shardPath(i int) string {
	return fmt.Sprintf("%s/%02x", c.dir, i)
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
	return c.DigestInfo(path, fi)
}

// DigestInfo is Digest with the file's stat already taken (by a directory
// walk, moments before), so that each file is stat'ed once. fi must
// describe the file at path: a regular file, or what a symlink at path
// points to.
func (c *Cache) DigestInfo(path string, fi fs.FileInfo) (string, error) {
	key := statOf(fi)
	sh := c.shard(path)
	sh.mu.Lock()
	if e, ok := sh.entries[path]; ok && e.sameStat(&key) {
		e.used = true
		sum := e.sum
		sh.mu.Unlock()
		return format(sum), nil
	}
	sh.mu.Unlock()

	sum, err := c.hashFile(path)
	if err != nil {
		return "", err
	}
	key.sum, key.used = sum, true
	key.fresh = time.Since(fi.ModTime()) < raceWindow
	sh.mu.Lock()
	sh.entries[path] = &key
	sh.dirty = true
	sh.mu.Unlock()
	return format(sum), nil
}

// Remember records digest ("sha256:<hex>") as the content of path while
// it has the stat fi, as if the cache had hashed it, for a caller that
// knows the digest already.
func (c *Cache) Remember(path string, fi fs.FileInfo, digest string) error {
	var sum [sha256.Size]byte
	if len(digest) != len("sha256:")+2*sha256.Size || digest[:7] != "sha256:" {
		return fmt.Errorf("remembering the digest of %s: %q is no sha256 digest", path, digest)
	}
	if _, err := hex.Decode(sum[:], []byte(digest[7:])); err != nil {
		return fmt.Errorf("remembering the digest of %s: %w", path, err)
	}
	key := statOf(fi)
	key.sum, key.used = sum, true
	key.fresh = time.Since(fi.ModTime()) < raceWindow
	sh := c.shard(path)
	sh.mu.Lock()
	sh.entries[path] = &key
	sh.dirty = true
	sh.mu.Unlock()
	return nil
}

func format(sum [sha256.Size]byte) string {
	var b [len("sha256:") + 2*sha256.Size]byte
	copy(b[:], "sha256:")
	hex.Encode(b[7:], sum[:])
	return string(b[:])
}

func statOf(fi fs.FileInfo) entry {
	e := entry{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.ino, e.ctime = st.Ino, st.Ctim.Sec*1e9+st.Ctim.Nsec
	}
	return e
}

func (c *Cache) hashFile(path string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	c.reads.Add(1)
	f, err := os.Open(path)
	if err != nil {
		return sum, fmt.Errorf("hashing %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, fmt.Errorf("hashing %s: %w", path, err)
	}
	h.Sum(sum[:0])
	return sum, nil
}

// File is a file for DigestAll: its path, and its stat when the caller
// has it (nil: DigestAll stats it).
type File struct {
	Path string
	Info fs.FileInfo
}

// DigestAll hashes files with up to workers goroutines (0 means 4) and
// returns their digests in the same order, or the first error.
func (c *Cache) DigestAll(files []File, workers int) ([]string, error) {
	if workers <= 0 {
		workers = 4
	}
	out := make([]string, len(files))
	errs := make([]error, len(files))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(files) {
					return
				}
				if f := files[i]; f.Info != nil {
					out[i], errs[i] = c.DigestInfo(f.Path, f.Info)
				} else {
					out[i], errs[i] = c.Digest(f.Path)
				}
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

// Save persists the shards that changed, each atomically (a temporary
// file renamed over the old one). A cache opened with dir "" saves
// nothing.
func (c *Cache) Save() error {
	if c.dir == "" {
		return nil
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		if sh.dirty {
			if err := saveShard(c.dir, c.shardPath(i), sh.entries); err != nil {
				sh.mu.Unlock()
				return err
			}
			sh.dirty = false
		}
		sh.mu.Unlock()
	}
	return nil
}
