package runtime

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gofrs/flock"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/ir"
)

// ImageInfo is one stored image, for `imgc images`.
type ImageInfo struct {
	Name    string
	Digest  string
	Size    int64 // manifest, config and compressed layers
	Created time.Time
}

// Images lists the stored images by name.
func (s *Store) Images() ([]ImageInfo, error) {
	m, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var out []ImageInfo
	for _, d := range m.Manifests {
		info := ImageInfo{Name: d.Annotations[refNameAnnotation], Digest: d.Digest.String(), Size: d.Size}
		img, err := s.image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading image %s: %w", info.Name, err)
		}
		man, err := img.Manifest()
		if err != nil {
			return nil, fmt.Errorf("reading image %s: %w", info.Name, err)
		}
		info.Size += man.Config.Size
		for _, l := range man.Layers {
			info.Size += l.Size
		}
		if cf, err := img.ConfigFile(); err == nil {
			info.Created = cf.Created.Time
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// HistoryEntry is one history entry of an image, newest last.
type HistoryEntry struct {
	Created   time.Time
	CreatedBy string
	// Digest is the entry's layer digest; "" for an empty one.
	Digest string
	// Size is the compressed size of the entry's layer; 0 for an empty one.
	Size  int64
	Empty bool
	// Source is "file:line" for layers imgc built, "" for inherited ones.
	Source  string
	Comment string
}

// History lists the history of the stored image called n.
func (s *Store) History(n string) ([]HistoryEntry, error) {
	d, err := s.lookupImage(n)
	if err != nil {
		return nil, err
	}
	img, err := s.image(d.Digest)
	if err != nil {
		return nil, err
	}
	man, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	var out []HistoryEntry
	li := 0
	for _, h := range cf.History {
		e := HistoryEntry{Created: h.Created.Time, CreatedBy: h.CreatedBy, Empty: h.EmptyLayer, Comment: h.Comment}
		if src, ok := strings.CutPrefix(h.Comment, "imgc: "); ok {
			e.Source = src
		}
		if !h.EmptyLayer && li < len(man.Layers) {
			e.Size = man.Layers[li].Size
			e.Digest = man.Layers[li].Digest.String()
			li++
		}
		out = append(out, e)
	}
	return out, nil
}

// CacheEntry is one cache index entry, for `imgc cache ls`.
type CacheEntry struct {
	Key    ir.CacheKey
	Digest string
	DiffID string
	Size   int64
	Empty  bool
	// Pruned is true when the entry's blob is gone.
	Pruned bool
	// Snapshot is true when the layer is unpacked for use as a lower dir.
	Snapshot bool
	// LastUsed is when a build last made or reused the entry.
	LastUsed time.Time
}

// CacheList lists the cache index, newest first.
func (s *Store) CacheList() ([]CacheEntry, error) {
	des, err := os.ReadDir(s.path("keys"))
	if err != nil {
		return nil, fmt.Errorf("listing the cache: %w", err)
	}
	var out []CacheEntry
	for _, de := range des {
		hexKey, ok := strings.CutSuffix(de.Name(), ".json")
		if !ok || strings.HasPrefix(hexKey, ".") {
			continue
		}
		k, err := ir.ParseCacheKey("sha256:" + hexKey)
		if err != nil {
			continue
		}
		data, err := os.ReadFile(s.keyPath(k))
		if err != nil {
			continue
		}
		var e keyEntry
		if err := json.Unmarshal(data, &e); err != nil {
			continue
		}
		ce := CacheEntry{Key: k, Digest: e.Digest.String(), DiffID: e.DiffID.String(), Size: e.Size, Empty: e.Empty}
		ce.Pruned = !e.Empty && !s.hasBlob(e.Digest)
		ce.Snapshot = !e.Empty && exists(s.snapshotDir(e.DiffID))
		if fi, err := de.Info(); err == nil {
			ce.LastUsed = fi.ModTime()
		}
		out = append(out, ce)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LastUsed.Equal(out[j].LastUsed) {
			return out[i].LastUsed.After(out[j].LastUsed)
		}
		return out[i].Key.String() < out[j].Key.String()
	})
	return out, nil
}

// Usage is the cache directory's disk usage in bytes, for `imgc cache du`.
type Usage struct {
	Blobs, Snapshots, Mounts, Downloads, Other int64
	Total                                      int64
}

// DiskUsage measures the cache directory.
func (s *Store) DiskUsage() (Usage, error) {
	var u Usage
	seen := map[[2]uint64]bool{}
	parts := []struct {
		dir string
		n   *int64
	}{
		{s.path("oci"), &u.Blobs},
		{s.path("snapshots"), &u.Snapshots},
		{s.path("mounts"), &u.Mounts},
		{s.path("downloads"), &u.Downloads},
		{s.path("keys"), &u.Other},
		{s.path("builds"), &u.Other},
		{s.path("tmp"), &u.Other},
	}
	for _, p := range parts {
		n, err := dirSize(p.dir, seen)
		if err != nil {
			return Usage{}, fmt.Errorf("measuring the cache: %w", err)
		}
		*p.n += n
	}
	u.Total = u.Blobs + u.Snapshots + u.Mounts + u.Downloads + u.Other
	return u, nil
}

// dirSize sums the allocated size of the files under dir, counting hard
// links once.
func dirSize(dir string, seen map[[2]uint64]bool) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			id := [2]uint64{uint64(st.Dev), st.Ino}
			if seen[id] {
				return nil
			}
			seen[id] = true
			n += st.Blocks * 512
		}
		return nil
	})
	return n, err
}

// storeLock is shared by builds and taken exclusively by Prune.
func (s *Store) storeLock() *flock.Flock {
	return flock.New(s.path("locks", "store.lock"))
}

// Prune empties the cache: every blob no stored image needs, all
// snapshots, cache mounts, downloads and temporary files. Cache index
// entries stay (a later plan reports them as pruned). It waits for running
// builds sharing the directory.
func (s *Store) Prune() (freed int64, err error) {
	lk := s.storeLock()
	if err := lk.Lock(); err != nil {
		return 0, fmt.Errorf("locking the cache: %w", err)
	}
	defer lk.Unlock()
	// No build runs now: mounts and locks left under the directory are
	// those of killed builds.
	s.unmountStale()
	before, err := s.DiskUsage()
	if err != nil {
		return 0, err
	}
	keep := map[v1.Hash]bool{}
	m, err := s.readIndex()
	if err != nil {
		return 0, err
	}
	for _, d := range m.Manifests {
		keep[d.Digest] = true
		img, err := s.image(d.Digest)
		if err != nil {
			continue
		}
		man, err := img.Manifest()
		if err != nil {
			continue
		}
		keep[man.Config.Digest] = true
		for _, l := range man.Layers {
			keep[l.Digest] = true
		}
	}
	blobs, err := os.ReadDir(s.path("oci", "blobs", "sha256"))
	if err != nil {
		return 0, fmt.Errorf("pruning: %w", err)
	}
	for _, b := range blobs {
		if !keep[v1.Hash{Algorithm: "sha256", Hex: b.Name()}] {
			if err := os.Remove(filepath.Join(s.path("oci", "blobs", "sha256"), b.Name())); err != nil {
				return 0, fmt.Errorf("pruning: %w", err)
			}
		}
	}
	locks, err := os.ReadDir(s.path("locks"))
	if err != nil {
		return 0, fmt.Errorf("pruning: %w", err)
	}
	for _, l := range locks {
		if strings.HasPrefix(l.Name(), "key-") || strings.HasPrefix(l.Name(), "snap-") {
			os.Remove(filepath.Join(s.path("locks"), l.Name()))
		}
	}
	for _, dir := range []string{"snapshots", "mounts/cache", "downloads", "tmp"} {
		des, err := os.ReadDir(s.path(dir))
		if err != nil {
			return 0, fmt.Errorf("pruning: %w", err)
		}
		for _, de := range des {
			if err := os.RemoveAll(filepath.Join(s.path(dir), de.Name())); err != nil {
				return 0, fmt.Errorf("pruning: %w", err)
			}
		}
	}
	after, err := s.DiskUsage()
	if err != nil {
		return 0, err
	}
	return before.Total - after.Total, nil
}

// unmountStale detaches every mount below the store's directory, deepest
// first.
func (s *Store) unmountStale() {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		p := unescapeMountPath(fields[4])
		if strings.HasPrefix(p, s.dir+"/") {
			points = append(points, p)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		unix.Unmount(p, unix.MNT_DETACH)
	}
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(p string) string {
	if !strings.Contains(p, "\\") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+3 < len(p) {
			if n, err := strconv.ParseUint(p[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// Inspection is what `imgc inspect` shows of a stored image.
type Inspection struct {
	Name     string         `json:"name"`
	Digest   string         `json:"digest"`
	Manifest *v1.Manifest   `json:"manifest"`
	Config   *v1.ConfigFile `json:"config"`
}

// Inspect returns the manifest and config of the stored image called n.
func (s *Store) Inspect(n string) (*Inspection, error) {
	d, err := s.lookupImage(n)
	if err != nil {
		return nil, err
	}
	img, err := s.image(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", n, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", n, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", n, err)
	}
	return &Inspection{Name: n, Digest: d.Digest.String(), Manifest: m, Config: cfg}, nil
}
