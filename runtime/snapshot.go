package runtime

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store/layer"
	"github.com/imgc-dev/imgc/engine/local/overlay"
)

// storeLayerTar compresses the uncompressed layer tar at tarPath into a
// blob of the store and removes tarPath.
func (s *Store) storeLayerTar(tarPath string, diff v1.Hash, compression string) (chainLayer, error) {
	defer os.Remove(tarPath)
	in, err := os.Open(tarPath)
	if err != nil {
		return chainLayer{}, err
	}
	defer in.Close()
	out, err := os.CreateTemp(s.path("tmp"), "blob-")
	if err != nil {
		return chainLayer{}, err
	}
	defer os.Remove(out.Name())
	hw := newHashWriter(out)
	mt := types.OCILayer
	switch compression {
	case "zstd":
		mt = types.OCILayerZStd
		zw, err := zstd.NewWriter(hw, zstd.WithEncoderConcurrency(1))
		if err != nil {
			out.Close()
			return chainLayer{}, err
		}
		if _, err := io.Copy(zw, in); err != nil {
			zw.Close()
			out.Close()
			return chainLayer{}, err
		}
		if err := zw.Close(); err != nil {
			out.Close()
			return chainLayer{}, err
		}
	default:
		zw, err := kgzip.NewWriterLevel(hw, kgzip.DefaultCompression)
		if err != nil {
			out.Close()
			return chainLayer{}, err
		}
		if _, err := io.Copy(zw, in); err != nil {
			zw.Close()
			out.Close()
			return chainLayer{}, err
		}
		if err := zw.Close(); err != nil {
			out.Close()
			return chainLayer{}, err
		}
	}
	if err := out.Close(); err != nil {
		return chainLayer{}, err
	}
	d := hw.Sum()
	if err := os.Chmod(out.Name(), 0o644); err != nil {
		return chainLayer{}, err
	}
	if err := os.Rename(out.Name(), s.blobPath(d)); err != nil {
		return chainLayer{}, err
	}
	return chainLayer{Digest: d, DiffID: diff, Size: hw.n, MediaType: mt}, nil
}

// uncompressed opens the layer blob d of media type mt as a tar stream.
func (s *Store) uncompressed(d v1.Hash, mt types.MediaType) (io.ReadCloser, error) {
	f, err := os.Open(s.blobPath(d))
	if err != nil {
		return nil, err
	}
	r, err := decompressLayer(f, mt)
	if err != nil {
		f.Close()
		return nil, err
	}
	return readCloser{r, f}, nil
}

// decompressLayer reads the layer r of media type mt as a tar stream.
func decompressLayer(r io.Reader, mt types.MediaType) (io.ReadCloser, error) {
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

// ensureSnapshot unpacks layer l into snapshots/<diff id> unless it is
// there, verifying the diff id and counting what it unpacks against b,
// and returns the directory.
func (s *Store) ensureSnapshot(l chainLayer, b *imageBudget) (string, error) {
	dir := s.snapshotDir(l.DiffID)
	if exists(dir) {
		return dir, nil
	}
	lk, err := s.lock("snap-" + l.DiffID.Hex)
	if err != nil {
		return "", err
	}
	defer lk.Unlock()
	if exists(dir) {
		return dir, nil
	}
	rc, err := s.uncompressed(l.Digest, l.MediaType)
	if err != nil {
		return "", fmt.Errorf("unpacking layer %s: %w", l.Digest, err)
	}
	defer rc.Close()
	tmp, err := s.tempDir("snap-")
	if err != nil {
		return "", err
	}
	hw := newHashWriter(io.Discard)
	tee := io.TeeReader(rc, hw)
	var stats layer.ApplyStats
	maxSize := s.layerMax(l, b)
	err = layer.Apply(tee, tmp, layer.ApplyOptions{MaxSize: maxSize, Stats: &stats})
	if err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("unpacking layer %s: %w", l.Digest, s.tooLarge(err, l, b))
	}
	// What follows the tar's end counts too: gigabytes of zeros there
	// would take long to hash.
	rest := io.Reader(tee)
	if maxSize > 0 {
		rest = io.LimitReader(tee, maxSize-stats.Size+1)
	}
	n, err := io.Copy(io.Discard, rest)
	if err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("unpacking layer %s: %w", l.Digest, err)
	}
	if maxSize > 0 && stats.Size+n > maxSize {
		os.RemoveAll(tmp)
		err := fmt.Errorf("data after the end of the tar: %w of %d bytes", layer.ErrTooLarge, maxSize)
		return "", fmt.Errorf("unpacking layer %s: %w", l.Digest, s.tooLarge(err, l, b))
	}
	if l.fromBase {
		b.used += stats.Size + n
	}
	if got := hw.Sum(); got != l.DiffID {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("unpacking layer %s: its content hashes to %s, the config says %s", l.Digest, got, l.DiffID)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("unpacking layer %s: %w", l.Digest, err)
	}
	return dir, nil
}

// snapshots returns the lower dirs for the next layer of tb, top first,
// unpacking any that are missing.
func (tb *targetBuild) snapshots(ctx context.Context) ([]string, error) {
	// A base layer that cannot be unpacked is the base's fault: say so.
	if _, err := tb.b.s.snapshotDirs(ctx, tb.st.Layers); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &StepError{Target: tb.t.Name, Key: tb.t.Base.Key, Origins: []ir.Origin{tb.t.Base.Origin}, Err: fmt.Errorf("base image %s: %w", baseName(tb.t.Base), err)}
	}
	var chain []chainLayer
	chain = append(chain, tb.st.Layers...)
	for _, f := range tb.layers {
		if f.empty {
			continue
		}
		if exists(tb.b.s.snapshotDir(f.diff)) {
			// Kept from its upper dir: the blob may still be compressing,
			// and is not needed.
			chain = append(chain, chainLayer{DiffID: f.diff})
			continue
		}
		if err := f.wait(); err != nil {
			return nil, err
		}
		chain = append(chain, f.cl)
	}
	return tb.b.s.snapshotDirs(ctx, chain)
}

// snapshotDirs ensures the snapshots of chain (bottom first) and returns
// their dirs top first.
func (s *Store) snapshotDirs(ctx context.Context, chain []chainLayer) ([]string, error) {
	dirs := make([]string, len(chain))
	b := s.imageBudget(chain)
	for i, l := range chain {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, err := s.ensureSnapshot(l, b)
		if err != nil {
			return nil, err
		}
		dirs[len(chain)-1-i] = d
	}
	// Layers with equal diffs share a snapshot, and overlayfs refuses a
	// lower dir given twice (ELOOP). Keeping only the topmost copy gives the
	// same view: whatever the lower copy sets or hides, the upper one sets
	// or hides again.
	seen := make(map[string]bool, len(dirs))
	top := dirs[:0]
	for _, d := range dirs {
		if !seen[d] {
			seen[d] = true
			top = append(top, d)
		}
	}
	return top, nil
}

// fsCache holds read-only mounts of built targets' filesystems for copies
// and bind mounts from them, for the duration of a build.
type fsCache struct {
	s      *Store
	mu     sync.Mutex
	mounts map[string]*fsMount
}

type fsMount struct {
	once sync.Once
	root string
	dir  string // the mount's temp dir, "" when root is no mount
	err  error
}

// root returns a directory holding the merged filesystem of the built
// target r, mounted read-only on first use.
func (c *fsCache) root(ctx context.Context, name string, r *targetResult) (string, error) {
	c.mu.Lock()
	m := c.mounts[name]
	if m == nil {
		m = &fsMount{}
		c.mounts[name] = m
	}
	c.mu.Unlock()
	m.once.Do(func() {
		m.root, m.dir, m.err = c.s.mountChain(ctx, r.state.Layers)
	})
	return m.root, m.err
}

func (c *fsCache) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.mounts {
		if m.dir != "" {
			overlay.Unmount(m.root)
			os.RemoveAll(m.dir)
		}
	}
	c.mounts = map[string]*fsMount{}
}

// mountChain mounts the filesystem of chain (bottom first) read-only and
// returns its root and the temp dir to remove after unmounting ("" when
// nothing was mounted: an empty chain is an empty directory).
func (s *Store) mountChain(ctx context.Context, chain []chainLayer) (root, tmp string, err error) {
	if len(chain) == 0 {
		empty := s.path("empty")
		if err := os.MkdirAll(empty, 0o755); err != nil {
			return "", "", err
		}
		return empty, "", nil
	}
	lowers, err := s.snapshotDirs(ctx, chain)
	if err != nil {
		return "", "", err
	}
	return s.mountLowers(lowers)
}

func (s *Store) mountLowers(lowers []string) (root, tmp string, err error) {
	if len(lowers) == 0 {
		empty := s.path("empty")
		if err := os.MkdirAll(empty, 0o755); err != nil {
			return "", "", err
		}
		return empty, "", nil
	}
	tmp, err = s.tempDir("ro-")
	if err != nil {
		return "", "", err
	}
	root = filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(root, 0o755); err != nil {
		os.RemoveAll(tmp)
		return "", "", err
	}
	if err := overlay.Mount(root, lowers, "", ""); err != nil {
		os.RemoveAll(tmp)
		return "", "", err
	}
	return root, tmp, nil
}

func baseName(b ir.Base) string {
	if b.Kind == ir.BaseTarget {
		return b.Target
	}
	return b.Ref
}
