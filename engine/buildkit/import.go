package buildkit

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"

	"github.com/imgc-dev/imgc/store"
)

// exported is the image the builder exported.
type exported struct {
	layers []store.Layer
	config v1.ConfigFile
	// blobs are the digests of its manifest, config and layers.
	blobs []string
}

// readExport reads the image the builder exported into the export store
// back from the store: the exporter's response names its manifest (the
// store keeps no index of what the builder wrote). Every blob it names
// must be in the store, written now or known from before, or be a layer
// imgc holds its own blob of (holds).
func readExport(s *store.Store, resp map[string]string, holds func(v1.Hash) bool) (*exported, error) {
	m, err := exportedManifest(resp)
	if err != nil {
		return nil, err
	}
	var man v1.Manifest
	if err := readJSON(s, m, &man); err != nil {
		return nil, fmt.Errorf("reading the exported manifest: %w", unsent(s, m, holds, err))
	}
	ex := &exported{blobs: []string{m.String(), man.Config.Digest.String()}}
	if err := readJSON(s, man.Config.Digest, &ex.config); err != nil {
		return nil, fmt.Errorf("reading the exported config: %w", unsent(s, man.Config.Digest, holds, err))
	}
	if len(ex.config.RootFS.DiffIDs) != len(man.Layers) {
		return nil, fmt.Errorf("the exported image has %d layers and %d diff ids", len(man.Layers), len(ex.config.RootFS.DiffIDs))
	}
	for i, l := range man.Layers {
		if !holds(l.Digest) {
			return nil, fmt.Errorf("the builder did not export layer %s", l.Digest)
		}
		ex.layers = append(ex.layers, store.Layer{Digest: l.Digest, DiffID: ex.config.RootFS.DiffIDs[i], Size: l.Size, MediaType: l.MediaType})
		ex.blobs = append(ex.blobs, l.Digest.String())
	}
	return ex, nil
}

// exportedManifest is the digest of the manifest the exporter's response
// describes (containerimage.descriptor, else containerimage.digest).
func exportedManifest(resp map[string]string) (v1.Hash, error) {
	if raw := resp[exptypes.ExporterImageDescriptorKey]; raw != "" {
		data, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("reading the exported descriptor: %w", err)
		}
		var d v1.Descriptor
		if err := json.Unmarshal(data, &d); err != nil {
			return v1.Hash{}, fmt.Errorf("reading the exported descriptor: %w", err)
		}
		if d.MediaType != types.OCIManifestSchema1 && d.MediaType != types.DockerManifestSchema2 {
			return v1.Hash{}, fmt.Errorf("the builder exported a %s, want an image manifest", d.MediaType)
		}
		return d.Digest, nil
	}
	if d := resp[exptypes.ExporterImageDigestKey]; d != "" {
		h, err := v1.NewHash(d)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("reading the exported digest: %w", err)
		}
		return h, nil
	}
	return v1.Hash{}, errNoExport
}

// unsent explains err, reading the blob h, when the builder did not send
// h because imgc said it held imgc's own blob of it: only a forged blob
// map beside an imported cache can name a manifest or config so.
func unsent(s *store.Store, h v1.Hash, holds func(v1.Hash) bool, err error) error {
	if !s.HasBlob(h) && holds(h) {
		return &notSent{h, "it is the image's manifest or config (a blob map beside an imported cache names it as a layer: the map is not one imgc wrote)"}
	}
	return err
}

func readJSON(s *store.Store, h v1.Hash, v any) error {
	data, err := os.ReadFile(s.BlobPath(h))
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}
