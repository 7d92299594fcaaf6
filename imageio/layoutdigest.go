package imageio

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// blobDescriptor describes the manifest or index of digest dgst that a
// layout holds without index.json naming it (oci-layout://PATH@DIGEST
// selects any of the layout's blobs, as BuildKit reads the layout as a
// content store): its size is the blob's, its media type what the blob
// says it is. The blob's digest is verified when it is read.
func (l ociLayout) blobDescriptor(dgst string) (v1.Descriptor, error) {
	h, err := v1.NewHash(dgst)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("layout %s: %w", l.dir, err)
	}
	f, err := l.open("blobs/" + h.Algorithm + "/" + h.Hex)
	if errors.Is(err, fs.ErrNotExist) {
		return v1.Descriptor{}, fmt.Errorf("layout %s has no manifest or index %s: neither its index.json names it nor its blobs hold it", l.dir, dgst)
	}
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("layout %s: %w", l.dir, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxManifestSize+1))
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("layout %s: reading %s: %w", l.dir, dgst, err)
	}
	if len(data) > maxManifestSize {
		return v1.Descriptor{}, fmt.Errorf("layout %s: %s is larger than %d bytes, so it is no manifest or index", l.dir, dgst, maxManifestSize)
	}
	var probe struct {
		MediaType types.MediaType `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
		Config    json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return v1.Descriptor{}, fmt.Errorf("layout %s: %s is no manifest or index: %w", l.dir, dgst, err)
	}
	mt := probe.MediaType
	switch {
	case mt != "":
	case probe.Manifests != nil:
		mt = types.OCIImageIndex
	case probe.Config != nil:
		mt = types.OCIManifestSchema1
	default:
		return v1.Descriptor{}, fmt.Errorf("layout %s: %s is no manifest or index", l.dir, dgst)
	}
	if !mt.IsIndex() && !mt.IsImage() {
		return v1.Descriptor{}, fmt.Errorf("layout %s: %s is a %s, not a manifest or an index", l.dir, dgst, mt)
	}
	return v1.Descriptor{MediaType: mt, Digest: h, Size: int64(len(data))}, nil
}
