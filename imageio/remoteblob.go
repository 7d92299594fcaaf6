package imageio

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgc-dev/imgc/store"
)

// FetchRemoteBlob is the store's store.BlobFetcher: it downloads the
// remote blob d of a stored image from its repository and verifies it as
// a cache hit is verified (digest, size, diff ID). A blob that fails is
// removed, and the error says the image is wrong.
func FetchRemoteBlob(ctx context.Context, s *store.Store, d v1.Hash, rb store.RemoteBlob) error {
	repo, err := parseRepository(rb.Repository)
	if err != nil {
		return err
	}
	rc, err := openRemoteBlob(ctx, repo, d)
	if err != nil {
		return err
	}
	_, _, err = s.PutBlobStream(io.LimitReader(rc, rb.Size+1), d)
	rc.Close()
	if err != nil {
		return err
	}
	l := store.Layer{Digest: d, DiffID: rb.DiffID, Size: rb.Size, MediaType: rb.MediaType}
	if err := verifyLayerBlob(s, d, l); err != nil {
		os.Remove(s.BlobPath(d))
		return fmt.Errorf("%w: the image was pushed with this layer unchecked, and is wrong; build it again with --no-cache, or with --cache-from ...,mount=false", err)
	}
	return nil
}

func openRemoteBlob(ctx context.Context, repo name.Repository, d v1.Hash) (io.ReadCloser, error) {
	l, err := remote.Layer(repo.Digest(d.String()), registryOptions(ctx)...)
	if err != nil {
		return nil, err
	}
	return l.Compressed()
}

// mountableImage is a stored image whose remote blobs (see
// store.RemoteBlob) are remote.MountableLayers, so that a push to the
// registry holding them mounts them from their repository instead of
// downloading and uploading them.
type mountableImage struct {
	v1.Image
	layers []v1.Layer
}

func (m *mountableImage) Layers() ([]v1.Layer, error) { return m.layers, nil }

func (m *mountableImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	for _, l := range m.layers {
		if d, err := l.Digest(); err == nil && d == h {
			return l, nil
		}
	}
	return m.Image.LayerByDigest(h)
}

// pushable returns img, with its remote blobs in registry reg as
// mountable layers when it has any. A remote blob of another registry
// stays the stored layer: reading it downloads and checks it first (see
// FetchRemoteBlob), so a push elsewhere never sends an unchecked layer
// on.
func pushable(ctx context.Context, s *store.Store, img v1.Image, reg string) (v1.Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	stored, err := img.Layers()
	if err != nil {
		return nil, err
	}
	mounted := false
	layers := make([]v1.Layer, len(m.Layers))
	for i, d := range m.Layers {
		layers[i] = stored[i]
		rb, ok := s.RemoteBlob(d.Digest)
		if !ok {
			continue
		}
		repo, err := parseRepository(rb.Repository)
		if err != nil || repo.RegistryStr() != reg {
			continue
		}
		l, err := partial.CompressedToLayer(&remoteBlob{ctx: ctx, repo: repo, d: d, rb: rb})
		if err != nil {
			return nil, err
		}
		layers[i] = &remote.MountableLayer{Layer: l, Reference: repo.Digest(d.Digest.String())}
		mounted = true
	}
	if !mounted {
		return img, nil
	}
	return &mountableImage{Image: img, layers: layers}, nil
}

// remoteBlob is a remote blob as a layer: what its record says, and its
// content read from its repository only if the registry cannot mount it.
type remoteBlob struct {
	ctx  context.Context
	repo name.Repository
	d    v1.Descriptor
	rb   store.RemoteBlob
}

func (b *remoteBlob) Digest() (v1.Hash, error)            { return b.d.Digest, nil }
func (b *remoteBlob) Size() (int64, error)                { return b.d.Size, nil }
func (b *remoteBlob) MediaType() (types.MediaType, error) { return b.d.MediaType, nil }
func (b *remoteBlob) DiffID() (v1.Hash, error)            { return b.rb.DiffID, nil }
func (b *remoteBlob) Compressed() (io.ReadCloser, error) {
	return openRemoteBlob(b.ctx, b.repo, b.d.Digest)
}

// pushableIndex is a stored index whose images are pushable.
type pushableIndex struct {
	storedIndex
	ctx context.Context
	s   *store.Store
	reg string
}

// storedIndex names the embedded index (its own ImageIndex method would
// clash with the field name v1.ImageIndex).
type storedIndex = v1.ImageIndex

func (x *pushableIndex) Image(h v1.Hash) (v1.Image, error) {
	img, err := x.storedIndex.Image(h)
	if err != nil {
		return nil, err
	}
	return pushable(x.ctx, x.s, img, x.reg)
}

// RemoteLayers counts the layers of the stored image or index d that the
// store lacks and knows to be in a registry (see store.RemoteBlob).
func RemoteLayers(s *store.Store, d v1.Hash) int {
	var images []v1.Hash
	if isIndex, err := s.IsIndex(d); err != nil {
		return 0
	} else if isIndex {
		idx, err := s.Index(d)
		if err != nil {
			return 0
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return 0
		}
		for _, c := range m.Manifests {
			images = append(images, c.Digest)
		}
	} else {
		images = []v1.Hash{d}
	}
	n := 0
	for _, h := range images {
		img, err := s.Image(h)
		if err != nil {
			continue
		}
		m, err := img.Manifest()
		if err != nil {
			continue
		}
		for _, l := range m.Layers {
			if _, ok := s.RemoteBlob(l.Digest); ok {
				n++
			}
		}
	}
	return n
}
