package imageio

import (
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// PlatformManifest is one platform's image of an index.
type PlatformManifest struct {
	Platform ir.Platform
	Desc     v1.Descriptor // its manifest in the store
}

// WriteIndex stores an OCI image index of the images, in their order, and
// returns its descriptor. It holds nothing but the images and their
// platforms, so equal images give an equal index.
func WriteIndex(s *store.Store, imgs []PlatformManifest) (v1.Descriptor, error) {
	m := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}}
	for _, im := range imgs {
		pl := v1Platform(im.Platform)
		m.Manifests = append(m.Manifests, v1.Descriptor{MediaType: im.Desc.MediaType, Size: im.Desc.Size, Digest: im.Desc.Digest, Platform: &pl})
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return v1.Descriptor{}, err
	}
	d, err := s.PutBlob(raw)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("storing image index: %w", err)
	}
	return v1.Descriptor{MediaType: types.OCIImageIndex, Size: int64(len(raw)), Digest: d}, nil
}
