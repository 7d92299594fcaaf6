package imageio

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

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
// directory, created or updated), "oci-archive" (a tar of one), "docker"
// (a tarball for `docker load`), or the files of the one image: "local"
// (in a directory) or "tar" (as one tar). Archives are written atomically. Blobs
// come straight from the store: a layout's layers are reflinked or hard
// linked where the filesystem allows, an archive's copied in the kernel.
// An export whose destination still holds exactly what the last export of
// the same images there wrote (every file's size, times and inode as
// recorded then) is not written again.
func WriteOutput(s *store.Store, typ, dest string, imgs []Image) error {
	_, err := WriteOutputIfChanged(s, typ, dest, imgs)
	return err
}

// WriteOutputIfChanged is WriteOutput, telling whether it wrote anything.
func WriteOutputIfChanged(s *store.Store, typ, dest string, imgs []Image) (wrote bool, err error) {
	wrote, err = writeOutput(s, typ, dest, imgs)
	if err != nil {
		return false, fmt.Errorf("writing output %s: %w", dest, err)
	}
	return wrote, nil
}

// exportFormat names the way outputs are written; changing what an
// export writes for the same images must change it, so that recorded
// exports are written again.
const exportFormat = "imgc-export-1"

func writeOutput(s *store.Store, typ, dest string, imgs []Image) (wrote bool, err error) {
	abs, err := filepath.Abs(dest)
	if err != nil {
		return false, err
	}
	key := exportKey(typ, imgs)
	if s.ExportUpToDate(abs, key) {
		return false, nil
	}
	s.ForgetExport(abs)
	var files []string
	switch typ {
	case "oci":
		files, err = writeLayout(s, abs, imgs)
	case "oci-archive":
		files, err = []string{abs}, writeLayoutArchive(s, abs, imgs)
	case "docker":
		files, err = []string{abs}, writeDockerArchive(s, abs, imgs)
	case "tar":
		files, err = []string{abs}, writeFilesystem(s, abs, imgs, true)
	case "local":
		// Not recorded: the files are the user's once written.
		return true, writeFilesystem(s, abs, imgs, false)
	default:
		err = fmt.Errorf("unknown type %q: want oci, oci-archive, docker, local or tar", typ)
	}
	if err != nil {
		return false, err
	}
	stamps := make([]store.FileStamp, 0, len(files))
	for _, f := range files {
		st, err := store.StampFile(f)
		if err != nil {
			return true, nil // nothing recorded: the next export writes again
		}
		stamps = append(stamps, st)
	}
	// A lost record only costs writing the same output again.
	_ = s.RecordExport(abs, key, stamps)
	return true, nil
}

// exportKey names an export's content: its type, the images and their
// names, in order.
func exportKey(typ string, imgs []Image) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", exportFormat, typ)
	for _, im := range imgs {
		fmt.Fprintf(h, "%s %q\n", im.Digest, im.Names)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// writeLayout writes (or updates) an OCI layout at dir naming each image
// by its tags, or by its target name when it has none, and returns the
// files the images are in. Layer blobs the layout lacks are linked from
// the store first (see linkBlob), so that go-containerregistry,
// which keeps blobs a layout has, only writes the small ones and
// index.json.
func writeLayout(s *store.Store, dir string, imgs []Image) ([]string, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return nil, err
		}
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return nil, err
		}
	}
	blobs, err := imagesBlobs(s, imgs)
	if err != nil {
		return nil, err
	}
	files := []string{filepath.Join(dir, "index.json"), filepath.Join(dir, "oci-layout")}
	for _, b := range blobs {
		dst := filepath.Join(dir, "blobs", b.Digest.Algorithm, b.Digest.Hex)
		files = append(files, dst)
		if fi, err := os.Stat(dst); err == nil && fi.Mode().IsRegular() && fi.Size() == b.Size {
			continue
		}
		if !isLayer(b.MediaType) {
			continue // small: go-containerregistry writes it
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, err
		}
		if err := linkBlob(s, b.Digest, dst); err != nil {
			return nil, err
		}
	}
	for _, bi := range imgs {
		if err := replaceInLayout(s, p, bi); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// replaceInLayout names the stored image bi in the layout p under each of
// its names, replacing what had those names.
func replaceInLayout(s *store.Store, p layout.Path, bi Image) error {
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
		return nil
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
	return nil
}

// ErrDockerIndex is a multi-platform image written as a docker tarball.
var ErrDockerIndex = fmt.Errorf("a docker tarball (docker load) holds one platform, and this image is an index of several: build it with one --platform for type=docker, or write type=oci or type=oci-archive")

// dockerTag turns an image name into the tag a docker-load tarball
// carries; a bare target name becomes NAME:latest.
func dockerTag(n string) (name.Tag, error) {
	return name.NewTag(n)
}

// PushDigest writes the stored image with manifest digest d to the
// registry reference dest; blobs the registry has are not uploaded, and
// failed uploads and puts are tried again (see registryOptions). A remote
// blob of the image (see store.RemoteBlob) in dest's registry is mounted
// from its repository where the registry can, else streamed from there.
func PushDigest(ctx context.Context, s *store.Store, d v1.Hash, dest string) error {
	if err := pushDigest(ctx, s, d, dest); err != nil {
		return &PushError{Dest: dest, Err: err}
	}
	return nil
}

func pushDigest(ctx context.Context, s *store.Store, d v1.Hash, dest string) error {
	ref, err := ParseReference(dest)
	if err != nil {
		return err
	}
	if isIndex, err := s.IsIndex(d); err != nil {
		return err
	} else if isIndex {
		idx, err := s.Index(d)
		if err != nil {
			return err
		}
		return remote.WriteIndex(ref, &pushableIndex{storedIndex: idx, ctx: ctx, s: s, reg: ref.Context().RegistryStr()}, registryOptions(ctx)...)
	}
	img, err := s.Image(d)
	if err == nil {
		img, err = pushable(ctx, s, img, ref.Context().RegistryStr())
	}
	if err != nil {
		return err
	}
	return remote.Write(ref, img, registryOptions(ctx)...)
}

// PushError is a push that failed: the image is built and stored, and can
// be pushed again (imgc push) once what failed is mended.
type PushError struct {
	Dest string
	Err  error
}

func (e *PushError) Error() string { return fmt.Sprintf("pushing %s: %v", e.Dest, e.Err) }
func (e *PushError) Unwrap() error { return e.Err }

// PushErrors are the pushes of a build that failed: a build pushes every
// tag even when one fails, as docker buildx does, and then reports them
// all.
type PushErrors []*PushError

// Add adds err, a PushDigest error, to p.
func (p PushErrors) Add(err error) PushErrors {
	var pe *PushError
	if !errors.As(err, &pe) {
		pe = &PushError{Err: err}
	}
	return append(p, pe)
}

// Err is nil for no failure, the one PushError for one, else p.
func (p PushErrors) Err() error {
	switch len(p) {
	case 0:
		return nil
	case 1:
		return p[0]
	}
	return p
}

func (p PushErrors) Error() string {
	msgs := make([]string, len(p))
	for i, e := range p {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

func (p PushErrors) Unwrap() []error {
	out := make([]error, len(p))
	for i, e := range p {
		out[i] = e
	}
	return out
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
	// To a file (or a pipe), as --output type=docker writes it: the same
	// bytes for one image, its layers copied by the kernel where it can.
	if f, ok := w.(*os.File); ok {
		err = writeDockerTo(f, s, []Image{{Digest: d.Digest, Names: []string{n}}})
	} else {
		err = tarball.Write(tag, img, w)
	}
	if err != nil {
		return fmt.Errorf("saving %s: %w", n, err)
	}
	return nil
}
