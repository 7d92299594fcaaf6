package store

import (
	"context"
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
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

// readAhead reads r on a goroutine into chunks, up to readAheadChunks
// ahead of its reader.
type readAhead struct {
	rc   io.ReadCloser
	ch   chan []byte
	free chan []byte
	stop chan struct{}
	done chan struct{}
	err  error // the goroutine's last read error, once ch is closed
	cur  []byte
	held []byte // the chunk cur is in, given back when consumed
	n    int
	shut bool
}

const readAheadChunks = 4

func newReadAhead(rc io.ReadCloser) *readAhead {
	ra := &readAhead{rc: rc, ch: make(chan []byte, readAheadChunks), free: make(chan []byte, readAheadChunks+1),
		stop: make(chan struct{}), done: make(chan struct{})}
	go ra.loop()
	return ra
}

func (ra *readAhead) loop() {
	defer close(ra.done)
	defer close(ra.ch)
	for {
		b := nextChunk(ra.free, &ra.n, readAheadChunks+1)
		k, err := io.ReadFull(ra.rc, b[:cap(b)])
		if k > 0 {
			select {
			case ra.ch <- b[:k]:
			case <-ra.stop:
				ra.free <- b
				return
			}
		} else {
			ra.free <- b
		}
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		if err != nil {
			ra.err = err
			return
		}
	}
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.held != nil {
			ra.free <- ra.held
			ra.held = nil
		}
		b, ok := <-ra.ch
		if !ok {
			<-ra.done
			return 0, ra.err
		}
		ra.cur, ra.held = b, b
	}
	k := copy(p, ra.cur)
	ra.cur = ra.cur[k:]
	return k, nil
}

// Close stops the goroutine, gives the chunks back and closes the layer.
func (ra *readAhead) Close() error {
	if ra.shut {
		return nil
	}
	ra.shut = true
	close(ra.stop)
	for b := range ra.ch {
		ra.free <- b
	}
	<-ra.done
	if ra.held != nil {
		ra.free <- ra.held
		ra.held = nil
	}
	drainChunks(ra.free, ra.n)
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
