package imageio

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/internal/hashio"
	"github.com/imgc-dev/imgc/store"
	"github.com/imgc-dev/imgc/store/layer"
)

// The filesystem outputs, as buildx's local and tar exporters write them:
// not an image but the files of one, its layers applied in order (a
// whiteout removes what a lower layer made). An image index (several
// platforms) gives each platform a directory of its own, named as buildx
// names them (linux_amd64, linux_arm_v7).

// writeFilesystem writes the files of the one image of imgs into the
// directory dest (asTar false) or as one tar file at dest. The files are
// unpacked into a directory of imgc's first, inside dest when dest is a
// directory (so on its file system, whatever is mounted there), else
// beside it, and moved into place: an interrupted build leaves no
// half-written file. An existing dest keeps its own directories (their
// owners and modes) and the files the image does not have; the image's
// files replace those of the same name, and a directory where the image
// has a file (or the other way round) is an error, never removed.
func writeFilesystem(s *store.Store, dest string, imgs []Image, asTar bool) error {
	typ := "local"
	if asTar {
		typ = "tar"
	}
	if len(imgs) != 1 {
		return fmt.Errorf("type=%s writes the files of one image, and this build makes %d: build one with --target, or write them as an OCI layout (type=oci)", typ, len(imgs))
	}
	fi, err := os.Lstat(dest)
	exists := err == nil
	switch {
	case err != nil && !os.IsNotExist(err):
		return err
	case exists && !asTar && !fi.IsDir():
		return fmt.Errorf("%s exists and is not a directory", dest)
	}
	within := filepath.Dir(dest)
	if exists && !asTar {
		within = dest
	}
	if err := os.MkdirAll(within, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(within, ".imgc-output-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := unpackImage(s, imgs[0].Digest, tmp); err != nil {
		return err
	}
	if asTar {
		return writeAtomicallyFile(dest, func(f *os.File) error {
			_, err := layer.WriteUpperDir(f, tmp, layer.Options{})
			return err
		})
	}
	if !exists {
		return os.Rename(tmp, dest)
	}
	return mergeInto(tmp, dest)
}

// unpackImage applies the layers of the stored image h to dir, or those of
// each platform's image to a directory of its own when h is an index.
func unpackImage(s *store.Store, h v1.Hash, dir string) error {
	isIndex, err := s.IsIndex(h)
	if err != nil {
		return err
	}
	if !isIndex {
		return applyLayers(s, h, dir)
	}
	idx, err := s.Index(h)
	if err != nil {
		return err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range m.Manifests {
		p := d.Platform
		if p == nil || p.OS == "unknown" {
			continue // an attestation, not a platform's image
		}
		name := p.OS + "_" + p.Architecture
		if p.Variant != "" {
			name += "_" + p.Variant
		}
		sub := filepath.Join(dir, name)
		if err := os.Mkdir(sub, 0o755); err != nil {
			return err
		}
		if err := applyLayers(s, d.Digest, sub); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// applyLayers applies the layers of the stored image manifest h to dir,
// bottom first, each verified against its diff ID.
func applyLayers(s *store.Store, h v1.Hash, dir string) error {
	img, err := s.Image(h)
	if err != nil {
		return err
	}
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return fmt.Errorf("image %s has %d layers and %d diff IDs", h, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	for i, d := range m.Layers {
		l := store.Layer{Digest: d.Digest, DiffID: cfg.RootFS.DiffIDs[i], Size: d.Size, MediaType: d.MediaType}
		if err := applyLayer(s, l, dir); err != nil {
			return fmt.Errorf("layer %s: %w", d.Digest, err)
		}
	}
	return nil
}

func applyLayer(s *store.Store, l store.Layer, dir string) error {
	rc, err := s.OpenLayer(l)
	if err != nil {
		return err
	}
	defer rc.Close()
	hw := hashio.NewWriter(io.Discard)
	if err := layer.ApplyToRoot(io.TeeReader(rc, hw), dir, layer.ApplyOptions{}); err != nil {
		return err
	}
	if _, err := io.Copy(hw, rc); err != nil {
		return err
	}
	if got := hw.Sum(); got != l.DiffID {
		return fmt.Errorf("its content hashes to %s, the config says %s", got, l.DiffID)
	}
	return nil
}

// mergeInto moves every entry of the directory src into the directory
// dest, by directory handles that never follow a symlink: a directory
// into an existing directory is merged, anything else replaces what
// dest has of its name unless one of the two is a directory.
func mergeInto(src, dest string) error {
	const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	sfd, err := unix.Open(src, dirFlags, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: src, Err: err}
	}
	defer unix.Close(sfd)
	dfd, err := unix.Open(dest, dirFlags, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dest, Err: err}
	}
	defer unix.Close(dfd)
	return mergeAt(sfd, dfd, src, dest)
}

func mergeAt(sfd, dfd int, src, dest string) error {
	const dirFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		var st unix.Stat_t
		err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case err == nil && e.IsDir() && st.Mode&unix.S_IFMT == unix.S_IFDIR:
			s2, err := unix.Openat(sfd, name, dirFlags, 0)
			if err != nil {
				return &os.PathError{Op: "open", Path: filepath.Join(src, name), Err: err}
			}
			d2, err := unix.Openat(dfd, name, dirFlags, 0)
			if err != nil {
				unix.Close(s2)
				return &os.PathError{Op: "open", Path: filepath.Join(dest, name), Err: err}
			}
			err = mergeAt(s2, d2, filepath.Join(src, name), filepath.Join(dest, name))
			unix.Close(s2)
			unix.Close(d2)
			if err != nil {
				return err
			}
			continue
		case err == nil && (e.IsDir() || st.Mode&unix.S_IFMT == unix.S_IFDIR):
			what := "a file"
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				what = "a directory"
			}
			return fmt.Errorf("%s is %s, and the image has another kind of file there: move it away, or write the files elsewhere", filepath.Join(dest, name), what)
		case err != nil && err != unix.ENOENT:
			return &os.PathError{Op: "stat", Path: filepath.Join(dest, name), Err: err}
		}
		if err := unix.Renameat(sfd, name, dfd, name); err != nil {
			return &os.LinkError{Op: "rename", Old: filepath.Join(src, name), New: filepath.Join(dest, name), Err: err}
		}
	}
	return nil
}
