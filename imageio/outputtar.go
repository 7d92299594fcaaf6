package imageio

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgc-dev/imgc/store"
)

// isLayer tells a layer blob from a manifest, index or config.
func isLayer(mt types.MediaType) bool {
	return mt.IsLayer()
}

// imagesBlobs lists the blobs of the stored images (manifests, indexes,
// configs and layers), each once, in the order first met.
func imagesBlobs(s *store.Store, imgs []Image) ([]v1.Descriptor, error) {
	seen := map[v1.Hash]bool{}
	var out []v1.Descriptor
	add := func(d v1.Descriptor) bool {
		if seen[d.Digest] {
			return false
		}
		seen[d.Digest] = true
		out = append(out, d)
		return true
	}
	var walk func(d v1.Descriptor) error
	walk = func(d v1.Descriptor) error {
		if !add(d) {
			return nil
		}
		if d.MediaType.IsIndex() {
			idx, err := s.Index(d.Digest)
			if err != nil {
				return err
			}
			m, err := idx.IndexManifest()
			if err != nil {
				return err
			}
			for _, c := range m.Manifests {
				if err := walk(c); err != nil {
					return err
				}
			}
			return nil
		}
		img, err := s.Image(d.Digest)
		if err != nil {
			return err
		}
		m, err := img.Manifest()
		if err != nil {
			return err
		}
		add(m.Config)
		for _, l := range m.Layers {
			add(l)
		}
		return nil
	}
	for _, bi := range imgs {
		d, err := storedDescriptor(s, bi.Digest)
		if err != nil {
			return nil, err
		}
		if err := walk(d); err != nil {
			return nil, err
		}
	}
	if err := ensureBlobs(s, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ensureBlobs makes the layers of ds local: a pushed image's layers may
// have stayed in a registry (store.EnsureBlob).
func ensureBlobs(s *store.Store, ds []v1.Descriptor) error {
	for _, d := range ds {
		if isLayer(d.MediaType) {
			if err := s.EnsureBlob(context.Background(), d.Digest); err != nil {
				return err
			}
		}
	}
	return nil
}

// storedDescriptor describes the stored manifest or index h.
func storedDescriptor(s *store.Store, h v1.Hash) (v1.Descriptor, error) {
	fi, err := os.Stat(s.BlobPath(h))
	if err != nil {
		return v1.Descriptor{}, err
	}
	isIndex, err := s.IsIndex(h)
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt := types.OCIManifestSchema1
	if isIndex {
		idx, err := s.Index(h)
		if err != nil {
			return v1.Descriptor{}, err
		}
		if mt, err = idx.MediaType(); err != nil {
			return v1.Descriptor{}, err
		}
	} else {
		img, err := s.Image(h)
		if err != nil {
			return v1.Descriptor{}, err
		}
		if mt, err = img.MediaType(); err != nil {
			return v1.Descriptor{}, err
		}
	}
	return v1.Descriptor{MediaType: mt, Size: fi.Size(), Digest: h}, nil
}

// layoutIndex is the index.json of a new OCI layout holding imgs, byte for
// byte as writeLayout writes it into an empty directory: go-containerregistry's
// empty index with each image replacing what had its names.
func layoutIndex(s *store.Store, imgs []Image) ([]byte, error) {
	var ii v1.ImageIndex = empty.Index
	for _, bi := range imgs {
		isIndex, err := s.IsIndex(bi.Digest)
		if err != nil {
			return nil, err
		}
		var add mutate.Appendable
		if isIndex {
			add, err = s.Index(bi.Digest)
		} else {
			add, err = s.Image(bi.Digest)
		}
		if err != nil {
			return nil, err
		}
		for _, n := range bi.Names {
			d, err := partial.Descriptor(add)
			if err != nil {
				return nil, err
			}
			d.Annotations = map[string]string{store.RefNameAnnotation: n}
			ii = mutate.AppendManifests(mutate.RemoveManifests(ii, match.Annotation(store.RefNameAnnotation, n)),
				mutate.IndexAddendum{Add: add, Descriptor: *d})
		}
	}
	m, err := ii.IndexManifest()
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(m, "", "   ")
}

// layoutFile is an OCI layout's oci-layout file, as go-containerregistry
// writes it.
const layoutFile = `{
    "imageLayoutVersion": "1.0.0"
}`

// writeLayoutArchive writes a tar of an OCI layout of imgs, atomically,
// straight from the store: no layout is written first, and blobs are
// copied by the kernel (copy_file_range) where it can.
func writeLayoutArchive(s *store.Store, dest string, imgs []Image) error {
	idx, err := layoutIndex(s, imgs)
	if err != nil {
		return err
	}
	blobs, err := imagesBlobs(s, imgs)
	if err != nil {
		return err
	}
	type entry struct {
		name string
		blob *v1.Descriptor
		data []byte
	}
	entries := []entry{{name: "index.json", data: idx}, {name: "oci-layout", data: []byte(layoutFile)}}
	dirs := map[string]bool{}
	for i := range blobs {
		h := blobs[i].Digest
		entries = append(entries, entry{name: "blobs/" + h.Algorithm + "/" + h.Hex, blob: &blobs[i]})
		dirs["blobs/"+h.Algorithm+"/"] = true
	}
	if len(dirs) > 0 {
		dirs["blobs/"] = true
	}
	for d := range dirs {
		entries = append(entries, entry{name: d})
	}
	// Sorted as paths without the directories' slashes: blobs, blobs/sha256,
	// blobs/sha256/..., index.json, oci-layout.
	sort.Slice(entries, func(i, j int) bool {
		return trimSlash(entries[i].name) < trimSlash(entries[j].name)
	})
	return writeAtomicallyFile(dest, func(f *os.File) error {
		tf := &tarFile{f: f, layout: true}
		for _, e := range entries {
			var err error
			switch {
			case e.blob != nil:
				err = tf.copyFile(e.name, s.BlobPath(e.blob.Digest), e.blob.Size)
			case e.data != nil:
				err = tf.bytes(e.name, e.data)
			default:
				err = tf.header(&tar.Header{Typeflag: tar.TypeDir, Name: e.name, Mode: 0o755})
			}
			if err != nil {
				return err
			}
		}
		return tf.close()
	})
}

func trimSlash(p string) string {
	if len(p) > 0 && p[len(p)-1] == '/' {
		return p[:len(p)-1]
	}
	return p
}

// archiveTime is the modification time of every entry of an archive
// imgc writes, so that its bytes depend on the images alone.
var archiveTime = time.Unix(0, 0)

// tarFile writes a tar archive to a file as archive/tar's Writer does
// (PAX format), but copies file contents from other files with
// os.File.ReadFrom, which copies in the kernel (copy_file_range) instead
// of through user space.
type tarFile struct {
	f   *os.File
	buf bytes.Buffer
	// layout dates every entry archiveTime in PAX format, as imgc's
	// layout archives have it; else headers are written as given.
	layout bool
}

// header writes the header of one entry; its content, if any, follows.
func (t *tarFile) header(h *tar.Header) error {
	if t.layout {
		h.Format = tar.FormatPAX
		h.ModTime = archiveTime
	}
	t.buf.Reset()
	// A Writer per entry writes the header blocks and nothing else: the
	// content goes to the file directly.
	if err := tar.NewWriter(&t.buf).WriteHeader(h); err != nil {
		return err
	}
	_, err := t.f.Write(t.buf.Bytes())
	return err
}

// pad writes the zeros that fill the last block of n bytes of content.
func (t *tarFile) pad(n int64) error {
	if r := n % 512; r != 0 {
		_, err := t.f.Write(make([]byte, 512-r))
		return err
	}
	return nil
}

func (t *tarFile) bytes(name string, data []byte) error {
	if err := t.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data))}); err != nil {
		return err
	}
	if _, err := t.f.Write(data); err != nil {
		return err
	}
	return t.pad(int64(len(data)))
}

// copyFile writes the file src, which must have size bytes, as name.
func (t *tarFile) copyFile(name, src string, size int64) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if fi, err := in.Stat(); err != nil {
		return err
	} else if fi.Size() != size {
		return fmt.Errorf("blob %s has %d bytes, its descriptor says %d", filepath.Base(src), fi.Size(), size)
	}
	if err := t.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: size}); err != nil {
		return err
	}
	n, err := t.f.ReadFrom(io.LimitReader(in, size))
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("blob %s: copied %d of %d bytes", filepath.Base(src), n, size)
	}
	return t.pad(size)
}

// close writes the two zero blocks that end an archive.
func (t *tarFile) close() error {
	_, err := t.f.Write(make([]byte, 1024))
	return err
}

// writeAtomically writes dest through a temporary file and a rename.
func writeAtomically(dest string, write func(io.Writer) error) error {
	return writeAtomicallyFile(dest, func(f *os.File) error { return write(f) })
}

// writeAtomicallyFile writes dest through a temporary file and a rename:
// until the rename, dest keeps what it held.
func writeAtomicallyFile(dest string, write func(*os.File) error) error {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(dest), ".imgc-"+filepath.Base(dest)+"-")
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	os.Chmod(f.Name(), 0o644)
	if err := os.Rename(f.Name(), dest); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// linkBlob makes dst hold the stored blob h without copying its bytes
// when the filesystem allows: a reflink (a copy-on-write clone, FICLONE),
// else a hard link, else an in-kernel copy (copy_file_range). dst must not
// exist; it appears complete or not at all.
func linkBlob(s *store.Store, h v1.Hash, dst string) error {
	return linkOrCopy(s.BlobPath(h), dst)
}

func linkOrCopy(src, dst string) error {
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".imgc-"+filepath.Base(dst)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	in, err := os.Open(src)
	if err != nil {
		tmp.Close()
		return err
	}
	defer in.Close()
	if unix.IoctlFileClone(int(tmp.Fd()), int(in.Fd())) == nil {
		if err := tmp.Close(); err != nil {
			return err
		}
		os.Chmod(tmp.Name(), 0o644)
		return os.Rename(tmp.Name(), dst)
	}
	tmp.Close()
	os.Remove(tmp.Name())
	if os.Link(src, dst) == nil {
		return nil
	}
	out, err := os.OpenFile(tmp.Name(), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := out.ReadFrom(in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
