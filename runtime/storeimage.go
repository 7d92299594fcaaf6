package runtime

import (
	"bytes"
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// storeImage is an image whose manifest, config and layers are blobs of the
// store; it needs no index entry, so cached bases and built images can be
// read back by digest alone.
type storeImage struct {
	s   *Store
	raw []byte
	m   *v1.Manifest
}

// image reads the image whose manifest has digest h from the store.
func (s *Store) image(h v1.Hash) (v1.Image, error) {
	raw, err := os.ReadFile(s.blobPath(h))
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", h, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing manifest %s: %w", h, err)
	}
	return partial.CompressedToImage(&storeImage{s: s, raw: raw, m: m})
}

func (i *storeImage) RawConfigFile() ([]byte, error) {
	return os.ReadFile(i.s.blobPath(i.m.Config.Digest))
}

func (i *storeImage) MediaType() (types.MediaType, error) {
	if i.m.MediaType != "" {
		return i.m.MediaType, nil
	}
	return types.OCIManifestSchema1, nil
}

func (i *storeImage) RawManifest() ([]byte, error) { return i.raw, nil }

func (i *storeImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.m.Config.Digest {
		return &storeBlob{s: i.s, d: i.m.Config}, nil
	}
	for _, d := range i.m.Layers {
		if d.Digest == h {
			return &storeBlob{s: i.s, d: d}, nil
		}
	}
	return nil, fmt.Errorf("manifest has no blob %s", h)
}

type storeBlob struct {
	s *Store
	d v1.Descriptor
}

func (b *storeBlob) Digest() (v1.Hash, error)            { return b.d.Digest, nil }
func (b *storeBlob) Size() (int64, error)                { return b.d.Size, nil }
func (b *storeBlob) MediaType() (types.MediaType, error) { return b.d.MediaType, nil }
func (b *storeBlob) Compressed() (io.ReadCloser, error) {
	f, err := os.Open(b.s.blobPath(b.d.Digest))
	if err != nil {
		return nil, fmt.Errorf("opening blob %s: %w", b.d.Digest, err)
	}
	return f, nil
}
