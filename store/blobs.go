package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgc-dev/imgc/internal/hashio"
)

// BlobPath is where the blob with digest h lives.
func (s *Store) BlobPath(h v1.Hash) string {
	return s.path("oci", "blobs", h.Algorithm, h.Hex)
}

// HasBlob tells whether the blob with digest h is stored.
func (s *Store) HasBlob(h v1.Hash) bool {
	_, err := os.Stat(s.BlobPath(h))
	return err == nil
}

// PutBlob stores data as a blob and returns its digest.
func (s *Store) PutBlob(data []byte) (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(data))
	if err != nil {
		return v1.Hash{}, err
	}
	if s.HasBlob(h) {
		return h, nil
	}
	s.blobWrites.Add(1)
	return h, writeFileAtomic(s.BlobPath(h), data)
}

// PutBlobStream copies r into the store, verifying it hashes to want (when
// want is set) and returns its digest and size.
func (s *Store) PutBlobStream(r io.Reader, want v1.Hash) (v1.Hash, int64, error) {
	if want.Hex != "" && s.HasBlob(want) {
		fi, err := os.Stat(s.BlobPath(want))
		if err == nil {
			return want, fi.Size(), nil
		}
	}
	f, err := s.TempFile("blob-")
	if err != nil {
		return v1.Hash{}, 0, err
	}
	defer os.Remove(f.Name())
	hw := hashio.NewWriter(f)
	if _, err := io.Copy(hw, r); err != nil {
		f.Close()
		return v1.Hash{}, 0, err
	}
	if err := f.Close(); err != nil {
		return v1.Hash{}, 0, err
	}
	got := hw.Sum()
	if want.Hex != "" && got != want {
		return v1.Hash{}, 0, fmt.Errorf("blob digest mismatch: want %s, got %s", want, got)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return v1.Hash{}, 0, err
	}
	s.blobWrites.Add(1)
	if err := os.Rename(f.Name(), s.BlobPath(got)); err != nil {
		return v1.Hash{}, 0, err
	}
	return got, hw.N, nil
}

// storeImage is an image whose manifest, config and layers are blobs of the
// store; it needs no index entry, so cached bases and built images can be
// read back by digest alone.
type storeImage struct {
	s   *Store
	raw []byte
	m   *v1.Manifest
}

// Image reads the image whose manifest has digest h from the store.
func (s *Store) Image(h v1.Hash) (v1.Image, error) {
	raw, err := os.ReadFile(s.BlobPath(h))
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
	return os.ReadFile(i.s.BlobPath(i.m.Config.Digest))
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
	if err := b.s.ensureBlob(context.Background(), b.d.Digest); err != nil {
		return nil, err
	}
	f, err := os.Open(b.s.BlobPath(b.d.Digest))
	if err != nil {
		return nil, fmt.Errorf("opening blob %s: %w", b.d.Digest, err)
	}
	return f, nil
}
