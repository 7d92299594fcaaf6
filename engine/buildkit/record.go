package buildkit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/store"
)

// record is what the builds of a project on one builder did, per layer
// key (the last build's, and earlier ones' of other layers: carryForward):
// for `imgc plan --builder` and for keeping a reused layer's creation
// time (so an unchanged rebuild gives the same image).
type record struct {
	Builder string                 `json:"builder"`
	Project string                 `json:"project"`
	Layers  map[string]layerRecord `json:"layers"`
	// Blobs maps a builder's layer blob digest and a compression to the
	// blob imgc stored for it (see recompress).
	Blobs map[string]blobRecord `json:"blobs,omitempty"`
	// Exported are the digests of the blobs the builder exported (the
	// images' manifests, configs and layers): the next build tells the
	// builder that the store holds them (exportStore).
	Exported []string `json:"exported,omitempty"`
}

// held is the digest of br's blob, when the store s holds it.
func (br blobRecord) held(s *store.Store) (v1.Hash, bool) {
	h, err := v1.NewHash(br.Digest)
	return h, err == nil && s.HasBlob(h)
}

type blobRecord struct {
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	MediaType string `json:"media_type"`
	// DiffID is the layer's (empty in a record of an older imgc).
	DiffID string `json:"diff_id,omitempty"`
}

type layerRecord struct {
	// Cached is true when the builder reused the layer.
	Cached  bool      `json:"cached"`
	Empty   bool      `json:"empty,omitempty"`
	DiffID  string    `json:"diff_id,omitempty"`
	Created time.Time `json:"created"`
}

func recordPath(s *store.Store, builder, project string) string {
	sum := sha256.Sum256([]byte(builder + "\x00" + project))
	return filepath.Join(s.Dir(), "buildkit", hex.EncodeToString(sum[:])+".json")
}

func readRecord(s *store.Store, builder, project string) *record {
	r := &record{Builder: builder, Project: project, Layers: map[string]layerRecord{}, Blobs: map[string]blobRecord{}}
	data, err := os.ReadFile(recordPath(s, builder, project))
	if err != nil {
		return r
	}
	if err := json.Unmarshal(data, r); err != nil || r.Layers == nil {
		r = &record{Builder: builder, Project: project, Layers: map[string]layerRecord{}}
	}
	if r.Blobs == nil {
		r.Blobs = map[string]blobRecord{}
	}
	return r
}

func writeRecord(s *store.Store, r *record) error {
	p := recordPath(s, r.Builder, r.Project)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".record-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

// exportedTo is every blob the builder exported into the store, in any
// project's builds on it (records' Exported): the daemon knows that
// imgc holds them, so a project's first build on a builder another
// project used is not sent a shared base's blobs again.
func exportedTo(s *store.Store, builder string) []string {
	ents, err := os.ReadDir(filepath.Join(s.Dir(), "buildkit"))
	if err != nil {
		return nil
	}
	var out []string
	for _, ent := range ents {
		if !ent.Type().IsRegular() || filepath.Ext(ent.Name()) != ".json" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(s.Dir(), "buildkit", ent.Name()))
		if err != nil {
			continue
		}
		var r struct {
			Builder  string   `json:"builder"`
			Exported []string `json:"exported"`
		}
		if json.Unmarshal(data, &r) != nil || r.Builder != builder {
			continue
		}
		out = append(out, r.Exported...)
	}
	return out
}
