package imageio

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// Pull copies the image ref (a registry reference) for the platform into
// the store under the name ref, and returns its manifest digest: the
// image stays pinned to that digest until pulled again.
func Pull(ctx context.Context, s *store.Store, ref string, pl ir.Platform) (string, error) {
	r, err := imageref.Parse(ref)
	if err != nil {
		return "", err
	}
	if r.Kind != imageref.Registry {
		return "", fmt.Errorf("%s is not a registry reference: imgc load reads archives, and builds read layouts directly", ref)
	}
	img, err := openBase(ctx, r, pl)
	if err != nil {
		return "", fmt.Errorf("pulling %s: %w", ref, err)
	}
	d, err := storeImage(s, img, false, []string{ref})
	if err != nil {
		return "", fmt.Errorf("pulling %s: %w", ref, err)
	}
	return d, nil
}

// storeImage imports img into the store and names it.
func storeImage(s *store.Store, img v1.Image, diffIDs bool, names []string) (string, error) {
	if _, err := importImage(s, img, diffIDs); err != nil {
		return "", err
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return "", err
	}
	mt, err := img.MediaType()
	if err != nil {
		return "", err
	}
	if len(names) > 0 {
		if err := s.TagImages(v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: d}, names); err != nil {
			return "", err
		}
	}
	return d.String(), nil
}

// Loaded is an image Load put into the store.
type Loaded struct {
	Names  []string
	Digest string
}

// Load imports every image of a docker archive (`docker save`) or an OCI
// layout archive (`imgc build -o type=oci-archive`, `skopeo copy
// oci-archive:`) at path into the store, under the names the archive
// gives them, for the platform pl when an OCI archive holds an index.
// Every blob is verified against its digest (a docker archive's layers
// against the config's diff ids) as it is copied.
func Load(s *store.Store, path string, pl ir.Platform) ([]Loaded, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	defer f.Close()
	hasManifest, hasLayout, err := archiveKind(f)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", path, err)
	}
	switch {
	case hasManifest:
		return loadDocker(s, path)
	case hasLayout:
		return loadOCI(s, f, path, pl)
	}
	return nil, fmt.Errorf("loading %s: it is neither a docker archive (no manifest.json) nor an OCI layout archive (no oci-layout)", path)
}

// archiveKind tells a docker archive (manifest.json) from an OCI layout
// archive (oci-layout); docker save writes both since Docker 25, and its
// manifest.json, which names the images, wins.
func archiveKind(f *os.File) (manifest, layout bool, err error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, false, err
	}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return manifest, layout, nil
		}
		if err != nil {
			return false, false, errors.New("it is not a tar archive: imgc load reads docker archives (docker save) and OCI layout archives")
		}
		switch path.Clean(h.Name) {
		case "manifest.json":
			manifest = true
		case "oci-layout":
			layout = true
		}
	}
}

func loadDocker(s *store.Store, p string) ([]Loaded, error) {
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return openRegular(p) })
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", p, err)
	}
	var out []Loaded
	for i, desc := range m {
		var tag *name.Tag
		if len(desc.RepoTags) > 0 {
			t, err := name.NewTag(desc.RepoTags[0])
			if err != nil {
				return nil, fmt.Errorf("loading %s: %w", p, err)
			}
			tag = &t
		}
		img, err := tarball.Image(func() (io.ReadCloser, error) { return openRegular(p) }, tag)
		if err != nil {
			return nil, fmt.Errorf("loading image %d of %s: %w", i+1, p, err)
		}
		d, err := storeImage(s, img, true, desc.RepoTags)
		if err != nil {
			return nil, fmt.Errorf("loading image %d of %s: %w", i+1, p, err)
		}
		out = append(out, Loaded{Names: desc.RepoTags, Digest: d})
	}
	return out, nil
}

// loadOCI imports each image the index of the layout archive f names,
// reading its blobs in place: each is copied once, into the store.
func loadOCI(s *store.Store, f *os.File, p string, pl ir.Platform) ([]Loaded, error) {
	idx, err := indexTar(f)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", p, err)
	}
	l := ociLayout{dir: p, arch: idx}
	im, err := l.readIndex()
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", p, err)
	}
	var out []Loaded
	for _, d := range im.Manifests {
		n := d.Annotations["io.containerd.image.name"]
		if n == "" {
			n = d.Annotations[store.RefNameAnnotation]
		}
		img, err := layoutImageByDigest(l, d, pl)
		if err != nil {
			return nil, fmt.Errorf("loading %s: %w", p, err)
		}
		var names []string
		if n != "" {
			names = []string{n}
		}
		dg, err := storeImage(s, img, false, names)
		if err != nil {
			return nil, fmt.Errorf("loading %s: %w", p, err)
		}
		out = append(out, Loaded{Names: names, Digest: dg})
	}
	return out, nil
}

func layoutImageByDigest(l ociLayout, d v1.Descriptor, pl ir.Platform) (v1.Image, error) {
	if !d.MediaType.IsIndex() {
		return l.image(d)
	}
	child, err := l.index(d)
	if err != nil {
		return nil, err
	}
	want := v1Platform(pl)
	for _, cd := range child.Manifests {
		if cd.Platform != nil && cd.Platform.Satisfies(want) && !cd.MediaType.IsIndex() {
			return l.image(cd)
		}
	}
	return nil, fmt.Errorf("index %s has no image for platform %s", d.Digest, pl)
}

// tarIndex is where the files of an OCI layout archive are in it.
type tarIndex struct {
	f     *os.File
	files map[string]tarSection
}

type tarSection struct{ off, size int64 }

// indexTar lists the regular files of the layout archive f that a layout
// holds (oci-layout, index.json, blobs/...), by offset, reading only the
// headers; anything else is ignored, and a name given twice is refused.
func indexTar(f *os.File) (*tarIndex, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	idx := &tarIndex{f: f, files: map[string]tarSection{}}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return idx, nil
		}
		if err != nil {
			return nil, err
		}
		name := path.Clean("/" + h.Name)[1:]
		if h.Typeflag != tar.TypeReg || !(name == "oci-layout" || name == "index.json" || strings.HasPrefix(name, "blobs/")) {
			continue // an OCI layout holds only these
		}
		if _, dup := idx.files[name]; dup {
			return nil, fmt.Errorf("the archive holds %s twice", name)
		}
		// archive/tar reads no further than a header: the file's
		// content starts where the archive is now.
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		idx.files[name] = tarSection{off: off, size: h.Size}
	}
}

// open reads the file at the slash path rel of the archive.
func (t *tarIndex) open(rel string) (io.ReadCloser, error) {
	sec, ok := t.files[rel]
	if !ok {
		return nil, &os.PathError{Op: "open", Path: rel, Err: os.ErrNotExist}
	}
	return io.NopCloser(io.NewSectionReader(t.f, sec.off, sec.size)), nil
}
