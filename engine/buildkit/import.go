package buildkit

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/store"
)

// importer receives the builder's OCI tarball as it streams and stores its
// blobs, each verified against its name, in the store.
type importer struct {
	s     *store.Store
	mu    sync.Mutex
	index []byte
	err   error
	done  chan struct{}
	used  bool
}

func newImporter(s *store.Store) *importer { return &importer{s: s, done: make(chan struct{})} }

// output is the exporter's Output: a writer whose bytes are read as a tar.
func (im *importer) output(map[string]string) (io.WriteCloser, error) {
	pr, pw := io.Pipe()
	im.used = true
	go func() {
		defer close(im.done)
		err := im.read(pr)
		if err != nil {
			pr.CloseWithError(err)
		} else {
			io.Copy(io.Discard, pr)
		}
		im.mu.Lock()
		im.err = err
		im.mu.Unlock()
	}()
	return pw, nil
}

func (im *importer) read(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the exported tarball: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(hdr.Name)
		switch {
		case name == "index.json":
			data, err := io.ReadAll(io.LimitReader(tr, 4<<20))
			if err != nil {
				return err
			}
			im.index = data
		case strings.HasPrefix(name, "blobs/sha256/"):
			want, err := v1.NewHash("sha256:" + strings.TrimPrefix(name, "blobs/sha256/"))
			if err != nil {
				return fmt.Errorf("exported blob %s: %w", name, err)
			}
			if _, _, err := im.s.PutBlobStream(tr, want); err != nil {
				return fmt.Errorf("storing exported blob %s: %w", name, err)
			}
		}
	}
}

// exported is the image the builder exported.
type exported struct {
	layers []store.Layer
	config v1.ConfigFile
}

// result waits for the tarball and reads its image back from the store.
func (im *importer) result() (*exported, error) {
	if !im.used {
		return nil, errNoExport
	}
	<-im.done
	if im.err != nil {
		return nil, im.err
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(im.index, &idx); err != nil {
		return nil, fmt.Errorf("reading the exported index: %w", err)
	}
	if len(idx.Manifests) != 1 {
		return nil, fmt.Errorf("the exported index lists %d manifests, want 1", len(idx.Manifests))
	}
	var m v1.Manifest
	if err := readJSON(im.s, idx.Manifests[0].Digest, &m); err != nil {
		return nil, fmt.Errorf("reading the exported manifest: %w", err)
	}
	ex := &exported{}
	if err := readJSON(im.s, m.Config.Digest, &ex.config); err != nil {
		return nil, fmt.Errorf("reading the exported config: %w", err)
	}
	if len(ex.config.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("the exported image has %d layers and %d diff ids", len(m.Layers), len(ex.config.RootFS.DiffIDs))
	}
	for i, l := range m.Layers {
		ex.layers = append(ex.layers, store.Layer{Digest: l.Digest, DiffID: ex.config.RootFS.DiffIDs[i], Size: l.Size, MediaType: l.MediaType})
	}
	return ex, nil
}

func readJSON(s *store.Store, h v1.Hash, v any) error {
	data, err := os.ReadFile(s.BlobPath(h))
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}
