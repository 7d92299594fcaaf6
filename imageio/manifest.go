package imageio

import (
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgc-dev/imgc/store"
)

// WriteImage stores st's config and an OCI manifest listing st's layers
// (blobs already in s) with the given annotations, and returns the
// manifest's descriptor. See the package documentation for why the two
// documents are marshalled here rather than composed with ggcr's mutate.
func WriteImage(s *store.Store, st *store.ImageState, annotations map[string]string) (v1.Descriptor, error) {
	rawCfg, err := MarshalConfig(&st.Config, st.StartInterval)
	if err != nil {
		return v1.Descriptor{}, err
	}
	cfgDigest, err := s.PutBlob(rawCfg)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("storing config: %w", err)
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(rawCfg)), Digest: cfgDigest},
		Layers:        []v1.Descriptor{},
		Annotations:   annotations,
	}
	for _, l := range st.Layers {
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: l.MediaType, Size: l.Size, Digest: l.Digest})
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return v1.Descriptor{}, err
	}
	d, err := s.PutBlob(raw)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("storing manifest: %w", err)
	}
	return v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: int64(len(raw)), Digest: d}, nil
}
