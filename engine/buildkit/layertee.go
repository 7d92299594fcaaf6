package buildkit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	digest "github.com/opencontainers/go-digest"

	"github.com/imgc-dev/imgc/store"
)

// A layerTee recompresses a layer blob as the daemon writes it into the
// export store: a goroutine reads the blob's temporary file behind the
// writer, up to what is written so far, and streams it through a
// decompressor into a store.LayerWriter, so that the layer is stored the
// way the local engine compresses it (see build.recompress) while the
// daemon still sends this and the image's other blobs, not in a second
// pass over the blob once the solve is done. The daemon's writes never
// wait for it. The result is what recompress would make from the
// committed blob: the same decompressed stream into the same writer. Any
// failure (content that does not decompress, a write the daemon starts
// over) only drops the tee, and recompress then reads the blob from the
// store as before.
type layerTee struct {
	f    *os.File
	lw   *store.LayerWriter
	mt   types.MediaType
	done chan struct{}

	mu   sync.Mutex
	cond *sync.Cond
	off  int64 // read so far
	n    int64 // written so far
	end  bool  // the blob is complete
	stop error // set when the tee is dropped

	// layer and err are the writer's result, set before done closes.
	layer store.Layer
	err   error
}

// errTeeDropped ends a tee whose blob was not committed.
var errTeeDropped = errors.New("the blob was not committed")

// layerType is the media type of a compressed layer blob that starts
// with head (the exporter does not say what it writes): gzip or zstd by
// their magic numbers, else "" (a config, a manifest, or an uncompressed
// layer, which needs no tee).
func layerType(head []byte) types.MediaType {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return types.OCILayer
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return types.OCILayerZStd
	}
	return ""
}

// sameCompression tells whether a blob of media type a decompresses as
// one of media type b does (store.DecompressLayer).
func sameCompression(a, b types.MediaType) bool {
	family := func(mt types.MediaType) int {
		switch mt {
		case types.OCIUncompressedLayer, types.DockerUncompressedLayer:
			return 0
		case types.OCILayerZStd:
			return 1
		}
		return 2
	}
	return family(a) == family(b)
}

// startTee starts recompressing, with compression, a layer blob of media
// type mt that is being written to the file named path; nil when it
// cannot.
func startTee(s *store.Store, path string, mt types.MediaType, compression string) *layerTee {
	if mt == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	lw, err := s.NewLayerWriter(compression)
	if err != nil {
		f.Close()
		return nil
	}
	t := &layerTee{f: f, lw: lw, mt: mt, done: make(chan struct{})}
	t.cond = sync.NewCond(&t.mu)
	go t.run()
	return t
}

func (t *layerTee) run() {
	defer close(t.done)
	defer t.f.Close()
	rc, err := store.DecompressLayer(t, t.mt)
	if err == nil {
		_, err = io.Copy(t.lw, rc)
		rc.Close()
	}
	// Bytes after the compressed stream's end are read, as recompress
	// reads the whole blob.
	if err == nil {
		_, err = io.Copy(io.Discard, t)
	}
	if err == nil {
		t.layer, err = t.lw.Close()
	}
	if err != nil {
		t.lw.Abort()
	}
	t.err = err
}

// Read reads the blob behind its writer, waiting for what is not yet
// written.
func (t *layerTee) Read(p []byte) (int, error) {
	t.mu.Lock()
	for t.off == t.n && !t.end && t.stop == nil {
		t.cond.Wait()
	}
	if t.stop != nil {
		t.mu.Unlock()
		return 0, t.stop
	}
	if t.off == t.n {
		t.mu.Unlock()
		return 0, io.EOF
	}
	k := min(int64(len(p)), t.n-t.off)
	off := t.off
	t.mu.Unlock()
	got, err := t.f.ReadAt(p[:k], off)
	t.mu.Lock()
	t.off += int64(got)
	t.mu.Unlock()
	if err == io.EOF && got > 0 {
		err = nil
	}
	return got, err
}

// wrote tells the tee that n more bytes of the blob are in its file.
func (t *layerTee) wrote(n int) {
	t.mu.Lock()
	t.n += int64(n)
	t.mu.Unlock()
	t.cond.Broadcast()
}

// finish tells the tee that its blob is complete and committed; claim
// waits for its layer.
func (t *layerTee) finish() {
	t.mu.Lock()
	t.end = true
	t.mu.Unlock()
	t.cond.Broadcast()
}

// drop ends the tee of a blob that is not committed, and waits for it.
func (t *layerTee) drop() {
	t.mu.Lock()
	t.stop = errTeeDropped
	t.mu.Unlock()
	t.cond.Broadcast()
	<-t.done
	if t.err == nil {
		t.lw.Abort()
	}
}

// result waits for the tee: ok when it made the layer.
func (t *layerTee) result() bool {
	<-t.done
	return t.err == nil
}

// claim moves the layer a tee made of the builder's blob l into the
// store and returns it, if a tee made one; as store.PutLayer, it refuses
// a layer whose content does not hash to l's diff ID.
func (e *exportStore) claim(l store.Layer) (store.Layer, bool, error) {
	d := digest.Digest(l.Digest.String())
	e.mu.Lock()
	t := e.teed[d]
	delete(e.teed, d)
	e.mu.Unlock()
	if t == nil || !t.result() {
		return store.Layer{}, false, nil
	}
	if !sameCompression(t.mt, l.MediaType) {
		// Decompressed otherwise than the manifest says: recompress reads
		// it as the manifest says.
		t.lw.Abort()
		return store.Layer{}, false, nil
	}
	if t.layer.DiffID != l.DiffID {
		t.lw.Abort()
		return store.Layer{}, false, fmt.Errorf("layer %s: the layer's content hashes to %s, not %s", l.Digest, t.layer.DiffID, l.DiffID)
	}
	if err := t.lw.Commit(); err != nil {
		return store.Layer{}, false, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	return t.layer, true, nil
}

// teeing tells whether a tee recompresses, or made, the layer of the
// daemon's blob d.
func (e *exportStore) teeing(d v1.Hash) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.teed[digest.Digest(d.String())] != nil
}

// discard removes the layers tees made that no one claimed (the blobs of
// base layers and of empty layers, which imgc keeps as they are or not)
// and ends the writes the daemon left open (a failed solve), with their
// tees, once the solve is over.
func (e *exportStore) discard() {
	e.mu.Lock()
	teed := e.teed
	e.teed = map[digest.Digest]*layerTee{}
	var open []*blobWriter
	for _, w := range e.writers {
		open = append(open, w)
	}
	e.mu.Unlock()
	for _, w := range open {
		w.Close()
	}
	for _, t := range teed {
		if t.result() {
			t.lw.Abort()
		}
	}
}

// recompressAs makes the store recompress, with compression, the layer
// blobs the daemon writes from now on (none when compression is empty).
func (e *exportStore) recompressAs(compression string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.compression = compression
}
