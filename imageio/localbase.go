package imageio

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/internal/bufpipe"
	"github.com/imgc-dev/imgc/internal/hashio"
	"github.com/imgc-dev/imgc/store"
)

// Local bases (OCI layouts and docker archives) are read as registries
// are: every blob is checked against the digest and size that named it,
// while it is read, and the metadata read into memory is bounded.
const (
	// maxManifestSize bounds index.json, indexes and manifests (the 4 MiB
	// registries allow).
	maxManifestSize = 4 << 20
	// maxConfigSize bounds image configs and docker archives' manifest.json.
	maxConfigSize = 16 << 20
)

// ociLayout is an OCI image layout directory whose blobs are verified as
// they are read; with arch, the files of a layout archive named dir,
// read in place.
type ociLayout struct {
	dir  string
	arch *tarIndex
}

// open opens the layout's file at the slash path rel.
func (l ociLayout) open(rel string) (io.ReadCloser, error) {
	if l.arch != nil {
		return l.arch.open(rel)
	}
	return openRegular(filepath.Join(l.dir, filepath.FromSlash(rel)))
}

// openRegular opens a file of a local base, refusing anything but a
// regular file (a FIFO would hang the build, a device feed it forever).
func openRegular(p string) (*os.File, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	return f, nil
}

// readIndex reads the layout's index.json.
func (l ociLayout) readIndex() (*v1.IndexManifest, error) {
	p := filepath.Join(l.dir, "index.json")
	f, err := l.open("index.json")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxManifestSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxManifestSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", p, maxManifestSize)
	}
	m, err := v1.ParseIndexManifest(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", p, err)
	}
	return m, nil
}

// readBlob reads the blob of descriptor d, what it is for the errors
// ("manifest", "config"), and verifies its size and digest.
func (l ociLayout) readBlob(d v1.Descriptor, what string, limit int64) ([]byte, error) {
	if d.Size > limit {
		return nil, fmt.Errorf("%s %s of layout %s: its descriptor claims %d bytes, more than the %d a %s may have", what, d.Digest, l.dir, d.Size, limit, what)
	}
	rc, err := l.openBlob(d, what)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// openBlob opens the blob of descriptor d for reading; the reader fails
// instead of reaching EOF when the content does not match d.
func (l ociLayout) openBlob(d v1.Descriptor, what string) (io.ReadCloser, error) {
	if d.Size < 0 {
		return nil, fmt.Errorf("%s %s of layout %s: its descriptor has the negative size %d", what, d.Digest, l.dir, d.Size)
	}
	f, err := l.open("blobs/" + d.Digest.Algorithm + "/" + d.Digest.Hex)
	if err != nil {
		return nil, fmt.Errorf("%s %s of layout %s: %w", what, d.Digest, l.dir, err)
	}
	return newVerifier(f, d, fmt.Sprintf("%s %s of layout %s", what, d.Digest, l.dir)), nil
}

// verifier passes a blob through, failing at EOF (or as soon as it is too
// long) when it does not have the size and digest of its descriptor.
type verifier struct {
	rc   io.ReadCloser
	want v1.Descriptor
	what string
	h    hash.Hash
	n    int64
	err  error
}

func newVerifier(rc io.ReadCloser, d v1.Descriptor, what string) *verifier {
	return &verifier{rc: rc, want: d, what: what, h: sha256.New()}
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	// Never read more than one byte past the size the descriptor gives
	// (v.n never passes it: reading past it fails).
	if left := v.want.Size - v.n; left < int64(len(p)) {
		p = p[:left+1]
	}
	n, err := v.rc.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.n > v.want.Size {
		v.err = fmt.Errorf("%s: the blob is larger than the %d bytes its descriptor gives", v.what, v.want.Size)
		return 0, v.err
	}
	if err == io.EOF {
		if v.n != v.want.Size {
			v.err = fmt.Errorf("%s: the blob has %d bytes, its descriptor gives %d", v.what, v.n, v.want.Size)
			return n, v.err
		}
		got := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(v.h.Sum(nil))}
		if got != v.want.Digest {
			v.err = fmt.Errorf("%s: the blob's content hashes to %s, not to its digest", v.what, got)
			return n, v.err
		}
	}
	if err != nil {
		v.err = err
	}
	return n, err
}

func (v *verifier) Close() error { return v.rc.Close() }

// ociImage is one image of a verified layout.
type ociImage struct {
	l    ociLayout
	raw  []byte
	m    *v1.Manifest
	once sync.Once
	cfg  []byte
	err  error
}

// image reads the image manifest of descriptor d.
func (l ociLayout) image(d v1.Descriptor) (v1.Image, error) {
	raw, err := l.readBlob(d, "manifest", maxManifestSize)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("manifest %s of layout %s: %w", d.Digest, l.dir, err)
	}
	if m.Config.Digest.Hex == "" {
		return nil, fmt.Errorf("manifest %s of layout %s has no config", d.Digest, l.dir)
	}
	return partial.CompressedToImage(&ociImage{l: l, raw: raw, m: m})
}

// index reads the image index of descriptor d.
func (l ociLayout) index(d v1.Descriptor) (*v1.IndexManifest, error) {
	raw, err := l.readBlob(d, "index", maxManifestSize)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("index %s of layout %s: %w", d.Digest, l.dir, err)
	}
	return m, nil
}

func (i *ociImage) RawConfigFile() ([]byte, error) {
	i.once.Do(func() { i.cfg, i.err = i.l.readBlob(i.m.Config, "config", maxConfigSize) })
	return i.cfg, i.err
}

func (i *ociImage) MediaType() (types.MediaType, error) {
	if i.m.MediaType != "" {
		return i.m.MediaType, nil
	}
	return types.OCIManifestSchema1, nil
}

func (i *ociImage) RawManifest() ([]byte, error) { return i.raw, nil }

func (i *ociImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.m.Config.Digest {
		return &ociBlob{l: i.l, d: i.m.Config, what: "config"}, nil
	}
	for _, d := range i.m.Layers {
		if d.Digest == h {
			return &ociBlob{l: i.l, d: d, what: "layer"}, nil
		}
	}
	return nil, fmt.Errorf("manifest has no blob %s", h)
}

type ociBlob struct {
	l    ociLayout
	d    v1.Descriptor
	what string
}

func (b *ociBlob) Digest() (v1.Hash, error)            { return b.d.Digest, nil }
func (b *ociBlob) Size() (int64, error)                { return b.d.Size, nil }
func (b *ociBlob) MediaType() (types.MediaType, error) { return b.d.MediaType, nil }
func (b *ociBlob) Compressed() (io.ReadCloser, error)  { return b.l.openBlob(b.d, b.what) }

// archiveEntry reads the file name of the docker archive at p, following
// links inside the archive, and at most limit bytes of it.
func archiveEntry(p, name string, limit int64) ([]byte, error) {
	for hops := 0; hops < 8; hops++ {
		f, err := openRegular(p)
		if err != nil {
			return nil, err
		}
		hdr, tr, err := findEntry(f, name)
		if err != nil {
			f.Close()
			return nil, err
		}
		if hdr.Typeflag == tar.TypeSymlink || hdr.Typeflag == tar.TypeLink {
			f.Close()
			name = path.Join(path.Dir(name), hdr.Linkname)
			continue
		}
		if hdr.Size > limit {
			f.Close()
			return nil, fmt.Errorf("%s in %s has %d bytes, more than the %d allowed", name, p, hdr.Size, limit)
		}
		data, err := io.ReadAll(tr)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s in %s: %w", name, p, err)
		}
		return data, nil
	}
	return nil, fmt.Errorf("%s in %s: too many links", name, p)
}

func findEntry(f *os.File, name string) (*tar.Header, *tar.Reader, error) {
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("%s holds no %s", f.Name(), name)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", f.Name(), err)
		}
		if path.Clean(hdr.Name) == path.Clean(name) {
			return hdr, tr, nil
		}
	}
}

// archiveBlobName matches the names `docker save` gives configs and
// layers, which are their digests: "<hex>.json" (before Docker 25) and
// "blobs/sha256/<hex>".
var archiveBlobName = regexp.MustCompile(`^(?:blobs/sha256/|sha256:)?([0-9a-f]{64})(?:\.json)?$`)

// checkDockerArchive verifies what go-containerregistry's tarball reader
// trusts in the docker archive at p: manifest.json and the config are
// bounded, there is one image, the config hashes to the digest its name
// gives, and it has one diff id per layer. It returns the config's diff
// ids, which the layers are checked against as they are imported.
func checkDockerArchive(p string) ([]v1.Hash, error) {
	data, err := archiveEntry(p, "manifest.json", maxConfigSize)
	if err != nil {
		return nil, err
	}
	var m []struct {
		Config string
		Layers []string
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parsing manifest.json of %s: %w", p, err)
	}
	if len(m) != 1 {
		return nil, fmt.Errorf("%s holds %d images; imgc reads archives of exactly one", p, len(m))
	}
	cfgName := path.Clean(m[0].Config)
	cfg, err := archiveEntry(p, cfgName, maxConfigSize)
	if err != nil {
		return nil, err
	}
	if sm := archiveBlobName.FindStringSubmatch(cfgName); sm != nil {
		if got := fmt.Sprintf("%x", sha256.Sum256(cfg)); got != sm[1] {
			return nil, fmt.Errorf("config %s of docker archive %s: its content hashes to sha256:%s, not to the digest its name gives", cfgName, p, got)
		}
	}
	var cf struct {
		RootFS struct {
			DiffIDs []v1.Hash `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(cfg, &cf); err != nil {
		return nil, fmt.Errorf("parsing config %s of docker archive %s: %w", cfgName, p, err)
	}
	if len(cf.RootFS.DiffIDs) != len(m[0].Layers) {
		return nil, fmt.Errorf("config %s of docker archive %s has %d diff ids for %d layers", cfgName, p, len(cf.RootFS.DiffIDs), len(m[0].Layers))
	}
	return cf.RootFS.DiffIDs, nil
}

// diffIDVerifier passes a stream through while a goroutine checks a copy
// of it, failing at EOF when the check fails, so the stream is read once.
type diffIDVerifier struct {
	rc   io.ReadCloser
	pw   *bufpipe.Writer
	done chan error
	err  error
	// passive readers see the stream's own end; the check's result is
	// Result's.
	passive bool
	result  error
}

// newDiffIDVerifier checks that the layer rc of media type mt decompresses
// to content hashing to want.
func newDiffIDVerifier(rc io.ReadCloser, mt types.MediaType, want v1.Hash, what string) io.ReadCloser {
	return newStreamVerifier(rc, func(r io.Reader) error {
		zr, err := store.DecompressLayer(r, mt)
		if err != nil {
			return err
		}
		defer zr.Close()
		hw := hashio.NewAsync()
		defer hw.Close()
		if _, err := io.Copy(hw, zr); err != nil {
			return err
		}
		if got := hw.Sum(); got != want {
			return fmt.Errorf("%s: its content hashes to %s, the config gives the diff id %s", what, got, want)
		}
		return nil
	})
}

// newStreamVerifier passes rc through while check reads a copy of it on a
// goroutine; reading rc to its end fails when check does.
func newStreamVerifier(rc io.ReadCloser, check func(io.Reader) error) *diffIDVerifier {
	pr, pw := bufpipe.New()
	v := &diffIDVerifier{rc: rc, pw: pw, done: make(chan error, 1)}
	go func() {
		err := check(pr)
		// Unblock the writer whatever happened.
		pr.CloseWithError(errors.New("verifier done"))
		v.done <- err
	}()
	return v
}

func (v *diffIDVerifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.rc.Read(p)
	if n > 0 {
		v.pw.Write(p[:n]) // a failed decompression shows at EOF
	}
	if err == io.EOF {
		v.pw.Close()
		v.result = <-v.done
		if v.result != nil && !v.passive {
			v.err = v.result
			return n, v.result
		}
		v.err = io.EOF
	}
	return n, err
}

// errUnread is Result's when the stream was not read to its end.
var errUnread = errors.New("the stream was not read to its end")

// Result is the check's verdict once the stream was read to its end.
func (v *diffIDVerifier) Result() error {
	if v.err != io.EOF && v.result == nil {
		return errUnread
	}
	return v.result
}

func (v *diffIDVerifier) Close() error {
	if v.err == nil {
		v.pw.CloseWithError(errors.New("closed"))
		<-v.done
		v.err = errors.New("closed")
	}
	return v.rc.Close()
}
