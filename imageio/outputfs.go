package imageio

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

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
// directory dest (asTar false) or as one tar file at dest. A directory is
// made beside dest first and renamed into place: an interrupted build
// leaves no half-written output. An existing dest directory keeps the
// files the image does not have (as buildx's local exporter does); the
// image's files replace those of the same name.
func writeFilesystem(s *store.Store, dest string, imgs []Image, asTar bool) error {
	typ := "local"
	if asTar {
		typ = "tar"
	}
	if len(imgs) != 1 {
		return fmt.Errorf("type=%s writes the files of one image, and this build makes %d: build one with --target, or write them as an OCI layout (type=oci)", typ, len(imgs))
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dest), ".imgc-"+filepath.Base(dest)+"-")
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
	return moveInto(tmp, dest)
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

// moveInto makes dest hold what src holds: src itself, renamed, when
// dest does not exist or is an empty directory; else each entry of src
// moved over dest's entry of that name, directories merged.
func moveInto(src, dest string) error {
	fi, err := os.Lstat(dest)
	switch {
	case os.IsNotExist(err):
		return os.Rename(src, dest)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s exists and is not a directory", dest)
	}
	if entries, err := os.ReadDir(dest); err == nil && len(entries) == 0 {
		if err := os.Remove(dest); err == nil {
			return os.Rename(src, dest)
		}
	}
	return mergeDir(src, dest)
}

// mergeDir moves every entry of the directory src into the directory
// dest: a directory into an existing directory is merged (dest's keeps
// its owner and mode), anything else replaces what dest has of that name.
func mergeDir(src, dest string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		from, to := filepath.Join(src, e.Name()), filepath.Join(dest, e.Name())
		if e.IsDir() {
			if fi, err := os.Lstat(to); err == nil && fi.IsDir() {
				if err := mergeDir(from, to); err != nil {
					return err
				}
				continue
			}
		}
		if fi, err := os.Lstat(to); err == nil && (fi.IsDir() || e.Type()&fs.ModeDir != 0) {
			if err := os.RemoveAll(to); err != nil {
				return err
			}
		}
		if err := os.Rename(from, to); err != nil {
			return err
		}
	}
	return nil
}
