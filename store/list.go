package store

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/ir"
)

// ImageInfo is one stored image, for `imgc images`.
type ImageInfo struct {
	Name    string
	Digest  string
	Size    int64 // manifest, config and compressed layers
	Created time.Time
	// Platforms are the platforms of an index (a multi-platform image);
	// nil for an image.
	Platforms []string
}

// Images lists the stored images by name.
func (s *Store) Images() ([]ImageInfo, error) {
	m, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var out []ImageInfo
	for _, d := range m.Manifests {
		info := ImageInfo{Name: d.Annotations[RefNameAnnotation], Digest: d.Digest.String(), Size: d.Size}
		if isIndex, err := s.IsIndex(d.Digest); err != nil {
			return nil, fmt.Errorf("reading image %s: %w", info.Name, err)
		} else if isIndex {
			if err := s.indexInfo(&info, d.Digest); err != nil {
				return nil, fmt.Errorf("reading image %s: %w", info.Name, err)
			}
			out = append(out, info)
			continue
		}
		img, err := s.Image(d.Digest)
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
func (s *Store) History(n string) ([]HistoryEntry, error) { return s.HistoryFor(n, ir.Platform{}) }

// HistoryFor lists the history of the stored image called n, of its
// platform p when it is an index (see LookupImageFor).
func (s *Store) HistoryFor(n string, p ir.Platform) ([]HistoryEntry, error) {
	d, err := s.LookupImageFor(n, p)
	if err != nil {
		return nil, err
	}
	img, err := s.Image(d.Digest)
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
		var e Entry
		if err := json.Unmarshal(data, &e); err != nil {
			continue
		}
		ce := CacheEntry{Key: k, Digest: e.Digest.String(), DiffID: e.DiffID.String(), Size: e.Size, Empty: e.Empty}
		ce.Pruned = !e.Empty && !s.HasBlob(e.Digest)
		ce.Snapshot = !e.Empty && exists(s.SnapshotDir(e.DiffID))
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
		{s.path("exports"), &u.Other},
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

// Inspection is what `imgc inspect` shows of a stored image.
type Inspection struct {
	Name     string       `json:"name"`
	Digest   string       `json:"digest"`
	Manifest *v1.Manifest `json:"manifest"`
	// Config is the config as stored, with what ggcr's v1.ConfigFile has
	// no field for (a healthcheck's StartInterval).
	Config json.RawMessage `json:"config"`
	// Index is the image index the name names, when it names one: the
	// image above is its platform's.
	Index *IndexInspection `json:"index,omitempty"`
}

// IndexInspection is an image index: its digest and each platform's image.
type IndexInspection struct {
	Digest    string          `json:"digest"`
	Platforms []PlatformImage `json:"platforms"`
}

// PlatformImage is one platform's image of an index.
type PlatformImage struct {
	Platform string `json:"platform"`
	Digest   string `json:"digest"`
}

// Inspect returns the manifest and config of the stored image called n.
func (s *Store) Inspect(n string) (*Inspection, error) { return s.InspectFor(n, ir.Platform{}) }

// InspectFor returns the manifest and config of the stored image called
// n, of its platform p when it is an index (see LookupImageFor).
func (s *Store) InspectFor(n string, p ir.Platform) (*Inspection, error) {
	d, err := s.LookupImageFor(n, p)
	if err != nil {
		return nil, err
	}
	img, err := s.Image(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", n, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", n, err)
	}
	if _, err := img.ConfigFile(); err != nil {
		return nil, fmt.Errorf("reading image %s: %w", n, err)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", n, err)
	}
	in := &Inspection{Name: n, Digest: d.Digest.String(), Manifest: m, Config: cfg}
	if top, err := s.LookupImage(n); err == nil && top.Digest != d.Digest {
		if idx, err := s.Index(top.Digest); err == nil {
			if im, err := idx.IndexManifest(); err == nil {
				in.Index = &IndexInspection{Digest: top.Digest.String()}
				for _, c := range im.Manifests {
					if c.Platform != nil {
						in.Index.Platforms = append(in.Index.Platforms, PlatformImage{Platform: c.Platform.String(), Digest: c.Digest.String()})
					}
				}
			}
		}
	}
	return in, nil
}

// indexInfo adds up an index's images into info: their sizes, the newest
// creation time, their platforms.
func (s *Store) indexInfo(info *ImageInfo, h v1.Hash) error {
	idx, err := s.Index(h)
	if err != nil {
		return err
	}
	m, _ := idx.IndexManifest()
	for _, d := range m.Manifests {
		img, err := s.Image(d.Digest)
		if err != nil {
			return err
		}
		man, err := img.Manifest()
		if err != nil {
			return err
		}
		info.Size += d.Size + man.Config.Size
		for _, l := range man.Layers {
			info.Size += l.Size
		}
		if cf, err := img.ConfigFile(); err == nil && cf.Created.After(info.Created) {
			info.Created = cf.Created.Time
		}
		if d.Platform != nil {
			info.Platforms = append(info.Platforms, d.Platform.String())
		}
	}
	return nil
}
