package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/imgc-dev/imgc/internal/bufpipe"
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
	// StartInterval is the healthcheck's start interval (Docker's
	// HEALTHCHECK --start-interval), which ggcr's v1.HealthConfig has no
	// field for: imageio reads it from a base's config and writes it into
	// an image's (imageio.MarshalConfig).
	StartInterval time.Duration
}

// Clone returns a deep copy of st.
func (st *ImageState) Clone() *ImageState {
	c := &ImageState{Layers: append([]Layer(nil), st.Layers...), StartInterval: st.StartInterval}
	c.Config = *st.Config.DeepCopy()
	return c
}

// PutLayerTar compresses the uncompressed layer tar at tarPath, whose
// digest is diff, into a blob of the store and removes tarPath.
// Compression is "zstd" or, for anything else, gzip. Callers that make
// the tar should stream it into NewLayerWriter instead.
func (s *Store) PutLayerTar(tarPath string, diff v1.Hash, compression string) (Layer, error) {
	defer os.Remove(tarPath)
	in, err := os.Open(tarPath)
	if err != nil {
		return Layer{}, err
	}
	defer in.Close()
	return s.PutLayer(in, diff, compression)
}

// PutLayer compresses the uncompressed layer tar r into a blob of the
// store, verifying that it hashes to diff when diff is set.
func (s *Store) PutLayer(r io.Reader, diff v1.Hash, compression string) (Layer, error) {
	lw, err := s.NewLayerWriter(compression)
	if err != nil {
		return Layer{}, err
	}
	if _, err := io.Copy(lw, r); err != nil {
		lw.Abort()
		return Layer{}, err
	}
	l, err := lw.Close()
	if err == nil && diff.Hex != "" && l.DiffID != diff {
		err = fmt.Errorf("the layer's content hashes to %s, not %s", l.DiffID, diff)
	}
	if err != nil {
		lw.Abort()
		return Layer{}, err
	}
	if err := lw.Commit(); err != nil {
		return Layer{}, err
	}
	return l, nil
}

// OpenLayer opens the stored layer l as a tar stream. It is decompressed
// on a goroutine of its own, a few chunks ahead of the reader, so that
// decompressing overlaps with what the reader does (unpacking, hashing,
// compressing again).
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
	return newReadAhead(readCloser{r, f}), nil
}

// readAhead reads rc on a goroutine, a few chunks ahead of its reader
// (see bufpipe): a layer's decompression and what reads it (a tar being
// unpacked, a hash) use two cores.
type readAhead struct {
	rc   io.ReadCloser
	pr   *bufpipe.Reader
	done chan struct{}
	shut bool
}

func newReadAhead(rc io.ReadCloser) *readAhead {
	pr, pw := bufpipe.New()
	ra := &readAhead{rc: rc, pr: pr, done: make(chan struct{})}
	go func() {
		defer close(ra.done)
		_, err := pw.ReadFrom(rc)
		pw.CloseWithError(err)
	}()
	return ra
}

func (ra *readAhead) Read(p []byte) (int, error) { return ra.pr.Read(p) }

var errLayerClosed = errors.New("layer closed")

// Close stops the goroutine and closes the layer.
func (ra *readAhead) Close() error {
	if ra.shut {
		return nil
	}
	ra.shut = true
	ra.pr.CloseWithError(errLayerClosed)
	<-ra.done
	return ra.rc.Close()
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
		zr, err := kgzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		return zr, nil
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
