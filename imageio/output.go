package imageio

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/imgc-dev/imgc/store"
)

// Image is a stored image to export and the names it is exported under.
type Image struct {
	Digest v1.Hash // of its manifest in the store
	Names  []string
}

// WriteOutput exports stored images to dest as typ: "oci" (an OCI layout
// directory, created or updated), "oci-archive" (a tar of one) or "docker"
// (a tarball for `docker load`). Archives are written atomically.
func WriteOutput(s *store.Store, typ, dest string, imgs []Image) error {
	var err error
	switch typ {
	case "oci":
		err = writeLayout(s, dest, imgs)
	case "oci-archive":
		err = writeLayoutArchive(s, dest, imgs)
	case "docker":
		err = writeDockerArchive(s, dest, imgs)
	default:
		err = fmt.Errorf("unknown type %q: want oci, oci-archive or docker", typ)
	}
	if err != nil {
		return fmt.Errorf("writing output %s: %w", dest, err)
	}
	return nil
}

// writeLayout writes (or updates) an OCI layout at dir naming each image
// by its tags, or by its target name when it has none.
func writeLayout(s *store.Store, dir string, imgs []Image) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return err
		}
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return err
		}
	}
	for _, bi := range imgs {
		isIndex, err := s.IsIndex(bi.Digest)
		if err != nil {
			return err
		}
		if isIndex {
			idx, err := s.Index(bi.Digest)
			if err != nil {
				return err
			}
			for _, n := range bi.Names {
				ann := map[string]string{store.RefNameAnnotation: n}
				if err := p.ReplaceIndex(idx, match.Annotation(store.RefNameAnnotation, n), layout.WithAnnotations(ann)); err != nil {
					return err
				}
			}
			continue
		}
		img, err := s.Image(bi.Digest)
		if err != nil {
			return err
		}
		for _, n := range bi.Names {
			ann := map[string]string{store.RefNameAnnotation: n}
			if err := p.ReplaceImage(img, match.Annotation(store.RefNameAnnotation, n), layout.WithAnnotations(ann)); err != nil {
				return err
			}
		}
	}
	return nil
}

// ErrDockerIndex is a multi-platform image written as a docker tarball.
var ErrDockerIndex = fmt.Errorf("a docker tarball (docker load) holds one platform, and this image is an index of several: build it with one --platform for type=docker, or write type=oci or type=oci-archive")

// writeLayoutArchive writes a tar of an OCI layout, atomically.
func writeLayoutArchive(s *store.Store, dest string, imgs []Image) error {
	tmp, err := s.TempDir("oci-archive-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := writeLayout(s, tmp, imgs); err != nil {
		return err
	}
	return writeAtomically(dest, func(w io.Writer) error { return tarDir(w, tmp) })
}

// tarDir writes the regular files and directories under dir as a tar.
func tarDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		hdr := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: fi.ModTime(), Format: tar.FormatPAX}
		if fi.IsDir() {
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, hdr.Name+"/", 0o755
		} else {
			hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.IsDir() {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

// writeAtomically writes dest through a temporary file and a rename.
func writeAtomically(dest string, write func(io.Writer) error) error {
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

// dockerTag turns an image name into the tag a docker-load tarball
// carries; a bare target name becomes NAME:latest.
func dockerTag(n string) (name.Tag, error) {
	return name.NewTag(n)
}

// writeDockerArchive writes a `docker load` tarball of every image under
// every name.
func writeDockerArchive(s *store.Store, dest string, imgs []Image) error {
	refs := map[name.Reference]v1.Image{}
	for _, bi := range imgs {
		if isIndex, err := s.IsIndex(bi.Digest); err != nil {
			return err
		} else if isIndex {
			return ErrDockerIndex
		}
		img, err := s.Image(bi.Digest)
		if err != nil {
			return err
		}
		for _, n := range bi.Names {
			tag, err := dockerTag(n)
			if err != nil {
				return fmt.Errorf("naming %s: %w", n, err)
			}
			refs[tag] = img
		}
	}
	return writeAtomically(dest, func(w io.Writer) error { return tarball.MultiRefWrite(refs, w) })
}

// PushDigest writes the stored image with manifest digest d to the
// registry reference dest; blobs the registry has are not uploaded, and
// failed uploads and puts are tried again (see registryOptions). A remote
// blob of the image (see store.RemoteBlob) in dest's registry is mounted
// from its repository where the registry can, else streamed from there.
func PushDigest(ctx context.Context, s *store.Store, d v1.Hash, dest string) error {
	ref, err := ParseReference(dest)
	if err != nil {
		return fmt.Errorf("pushing %s: %w", dest, err)
	}
	if isIndex, err := s.IsIndex(d); err != nil {
		return fmt.Errorf("pushing %s: %w", dest, err)
	} else if isIndex {
		idx, err := s.Index(d)
		if err != nil {
			return fmt.Errorf("pushing %s: %w", dest, err)
		}
		if err := remote.WriteIndex(ref, &pushableIndex{storedIndex: idx, ctx: ctx, s: s, reg: ref.Context().RegistryStr()}, registryOptions(ctx)...); err != nil {
			return fmt.Errorf("pushing %s: %w", dest, err)
		}
		return nil
	}
	img, err := s.Image(d)
	if err == nil {
		img, err = pushable(ctx, s, img, ref.Context().RegistryStr())
	}
	if err != nil {
		return fmt.Errorf("pushing %s: %w", dest, err)
	}
	if err := remote.Write(ref, img, registryOptions(ctx)...); err != nil {
		return fmt.Errorf("pushing %s: %w", dest, err)
	}
	return nil
}

// Push writes the stored image called n to dest (n itself when dest is
// empty), uploading only the blobs the registry lacks.
func Push(ctx context.Context, s *store.Store, n, dest string) error {
	d, err := s.LookupImage(n)
	if err != nil {
		return err
	}
	if dest == "" {
		dest = n
	}
	return PushDigest(ctx, s, d.Digest, dest)
}

// Save writes the stored image called n as a `docker load` tarball to w.
func Save(s *store.Store, n string, w io.Writer) error {
	d, err := s.LookupImage(n)
	if err != nil {
		return err
	}
	if isIndex, err := s.IsIndex(d.Digest); err != nil {
		return fmt.Errorf("saving %s: %w", n, err)
	} else if isIndex {
		return fmt.Errorf("saving %s: %w", n, ErrDockerIndex)
	}
	img, err := s.Image(d.Digest)
	if err != nil {
		return fmt.Errorf("saving %s: %w", n, err)
	}
	tag, err := dockerTag(n)
	if err != nil {
		return fmt.Errorf("saving %s: %w", n, err)
	}
	if err := tarball.Write(tag, img, w); err != nil {
		return fmt.Errorf("saving %s: %w", n, err)
	}
	return nil
}
