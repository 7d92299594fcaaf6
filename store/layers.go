package store

import (
	"compress/gzip"
	"context"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/imgc-dev/imgc/internal/hashio"
)

// Layer is one non-empty layer of an image, as its manifest lists it.
type Layer struct {
	Digest    v1.Hash
	DiffID    v1.Hash
	Size      int64
	MediaType types.MediaType
	// FromBase marks a layer of a pulled base image: unpacking it is
	// bounded (see UnpackLimits).
	FromBase bool
}

// ImageState is a filesystem (its layers, bottom first) and a config: a
// base as pulled, or an image as built so far.
type ImageState struct {
	Layers []Layer
	Config v1.ConfigFile
}

// Clone returns a deep copy of st.
func (st *ImageState) Clone() *ImageState {
	c := &ImageState{Layers: append([]Layer(nil), st.Layers...)}
	c.Config = *st.Config.DeepCopy()
	return c
}

// PutLayerTar compresses the uncompressed layer tar at tarPath, whose
// digest is diff, into a blob of the store and removes tarPath.
// Compression is "zstd" or, for anything else, gzip.
func (s *Store) PutLayerTar(tarPath string, diff v1.Hash, compression string) (Layer, error) {
	defer os.Remove(tarPath)
	in, err := os.Open(tarPath)
	if err != nil {
		return Layer{}, err
	}
	defer in.Close()
	out, err := s.TempFile("blob-")
	if err != nil {
		return Layer{}, err
	}
	defer os.Remove(out.Name())
	hw := hashio.NewWriter(out)
	mt := types.OCILayer
	var zw io.WriteCloser
	if compression == "zstd" {
		mt = types.OCILayerZStd
		zw, err = zstd.NewWriter(hw, zstd.WithEncoderConcurrency(1))
	} else {
		zw, err = kgzip.NewWriterLevel(hw, kgzip.DefaultCompression)
	}
	if err != nil {
		out.Close()
		return Layer{}, err
	}
	if _, err := io.Copy(zw, in); err != nil {
		zw.Close()
		out.Close()
		return Layer{}, err
	}
	if err := zw.Close(); err != nil {
		out.Close()
		return Layer{}, err
	}
	if err := out.Close(); err != nil {
		return Layer{}, err
	}
	d := hw.Sum()
	if err := os.Chmod(out.Name(), 0o644); err != nil {
		return Layer{}, err
	}
	if err := os.Rename(out.Name(), s.BlobPath(d)); err != nil {
		return Layer{}, err
	}
	return Layer{Digest: d, DiffID: diff, Size: hw.N, MediaType: mt}, nil
}

// OpenLayer opens the stored layer l as a tar stream.
func (s *Store) OpenLayer(l Layer) (io.ReadCloser, error) {
	if err := s.ensureBlob(context.Background(), l.Digest); err != nil {
		return nil, err
	}
	f, err := os.Open(s.BlobPath(l.Digest))
	if err != nil {
		return nil, err
	}
	r, err := DecompressLayer(f, l.MediaType)
	if err != nil {
		f.Close()
		return nil, err
	}
	return readCloser{r, f}, nil
}

// DecompressLayer reads the layer r of media type mt as a tar stream.
func DecompressLayer(r io.Reader, mt types.MediaType) (io.ReadCloser, error) {
	switch mt {
	case types.OCIUncompressedLayer, types.DockerUncompressedLayer:
		return io.NopCloser(r), nil
	case types.OCILayerZStd:
		// The zstd tool's own limit on the window a frame may ask for:
		// a crafted frame cannot make it allocate more.
		zr, err := zstd.NewReader(r, zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	default:
		return gzip.NewReader(r)
	}
}

type readCloser struct {
	io.ReadCloser
	under io.Closer
}

func (r readCloser) Close() error {
	r.ReadCloser.Close()
	return r.under.Close()
}
