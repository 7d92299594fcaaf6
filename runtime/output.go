package runtime

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
)

// writeOutput exports the output images to one destination.
func (s *Store) writeOutput(out Output, imgs []builtImage) error {
	var err error
	switch out.Type {
	case "oci":
		err = s.writeLayout(out.Dest, imgs)
	case "oci-archive":
		err = s.writeLayoutArchive(out.Dest, imgs)
	case "docker":
		err = s.writeDockerArchive(out.Dest, imgs)
	default:
		err = fmt.Errorf("unknown type %q: want oci, oci-archive or docker", out.Type)
	}
	if err != nil {
		return fmt.Errorf("writing output %s: %w", out.Dest, err)
	}
	return nil
}

// writeLayout writes (or updates) an OCI layout at dir naming each image
// by its tags, or by its target name when it has none.
func (s *Store) writeLayout(dir string, imgs []builtImage) error {
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
		img, err := s.image(bi.desc.Digest)
		if err != nil {
			return err
		}
		for _, n := range imageNames(bi.target) {
			ann := map[string]string{refNameAnnotation: n}
			if err := p.ReplaceImage(img, match.Annotation(refNameAnnotation, n), layout.WithAnnotations(ann)); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeLayoutArchive writes a tar of an OCI layout, atomically.
func (s *Store) writeLayoutArchive(dest string, imgs []builtImage) error {
	tmp, err := s.tempDir("oci-archive-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := s.writeLayout(tmp, imgs); err != nil {
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
func (s *Store) writeDockerArchive(dest string, imgs []builtImage) error {
	refs := map[name.Reference]v1.Image{}
	for _, bi := range imgs {
		img, err := s.image(bi.desc.Digest)
		if err != nil {
			return err
		}
		for _, n := range imageNames(bi.target) {
			tag, err := dockerTag(n)
			if err != nil {
				return fmt.Errorf("naming %s: %w", n, err)
			}
			refs[tag] = img
		}
	}
	return writeAtomically(dest, func(w io.Writer) error { return tarball.MultiRefWrite(refs, w) })
}

// pushDigest writes the stored image with manifest digest d to the
// registry reference dest; blobs the registry has are not uploaded, and
// failed uploads and puts are tried again (see registryOptions).
func (s *Store) pushDigest(ctx context.Context, d v1.Hash, dest string) error {
	ref, err := name.ParseReference(dest)
	if err != nil {
		return fmt.Errorf("pushing %s: %w", dest, err)
	}
	img, err := s.image(d)
	if err != nil {
		return fmt.Errorf("pushing %s: %w", dest, err)
	}
	if err := remote.Write(ref, img, registryOptions(ctx)...); err != nil {
		return fmt.Errorf("pushing %s: %w", dest, err)
	}
	return nil
}

// NoImageError is returned by the commands that name a stored image when
// there is no image of that name.
type NoImageError struct{ Name string }

func (e *NoImageError) Error() string {
	return fmt.Sprintf("no image named %q in the store (see imgc images)", e.Name)
}

// lookupImage finds the stored image named n.
func (s *Store) lookupImage(n string) (v1.Descriptor, error) {
	m, err := s.readIndex()
	if err != nil {
		return v1.Descriptor{}, err
	}
	for _, d := range m.Manifests {
		if d.Annotations[refNameAnnotation] == n {
			return d, nil
		}
	}
	// Accept the normalised spelling of a registry name too.
	if ref, err := name.ParseReference(n); err == nil {
		for _, d := range m.Manifests {
			if r2, err := name.ParseReference(d.Annotations[refNameAnnotation]); err == nil && r2.Name() == ref.Name() {
				return d, nil
			}
		}
	}
	return v1.Descriptor{}, &NoImageError{Name: n}
}

// Push writes the stored image called n to dest (n itself when dest is
// empty), uploading only the blobs the registry lacks.
func (s *Store) Push(ctx context.Context, n, dest string) error {
	d, err := s.lookupImage(n)
	if err != nil {
		return err
	}
	if dest == "" {
		dest = n
	}
	return s.pushDigest(ctx, d.Digest, dest)
}

// Save writes the stored image called n as a `docker load` tarball to w.
func (s *Store) Save(n string, w io.Writer) error {
	d, err := s.lookupImage(n)
	if err != nil {
		return err
	}
	img, err := s.image(d.Digest)
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
