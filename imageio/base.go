package imageio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

func v1Platform(pl ir.Platform) v1.Platform {
	return v1.Platform{OS: pl.OS, Architecture: pl.Architecture, Variant: pl.Variant}
}

// ResolveBase resolves a base reference (a registry, an OCI layout or a
// docker archive) to its manifest digest for the platform, fetching only
// the manifest.
func ResolveBase(ctx context.Context, ref imageref.Ref, pl ir.Platform) (string, error) {
	img, err := openBase(ctx, ref, pl)
	var np *ir.NoPlatformError
	if err != nil && img != nil && errors.As(err, &np) && np.Single {
		// Of another platform: its digest with the error, for a base
		// no step runs on.
		if d, derr := img.Digest(); derr == nil {
			return d.String(), err
		}
	}
	if err != nil {
		return "", fmt.Errorf("resolving base image %q: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("resolving base image %q: %w", ref, err)
	}
	return d.String(), nil
}

// openBase returns the base image without reading its layers.
func openBase(ctx context.Context, ref imageref.Ref, pl ir.Platform) (v1.Image, error) {
	switch ref.Kind {
	case imageref.Registry:
		r, err := ParseReference(ref.Name) // go-containerregistry's form of the parsed reference
		if err != nil {
			return nil, err
		}
		img, err := remote.Image(r, registryOptions(ctx, remote.WithPlatform(v1Platform(pl)))...)
		if err != nil {
			return nil, noPlatform(ctx, r, pl, err)
		}
		return img, nil
	case imageref.OCILayout:
		img, err := layoutImage(ref.Path, ref.Tag, ref.Digest, pl)
		if err != nil {
			return nil, err
		}
		return img, checkPlatform(img, ref.String(), pl) // both: see ResolveBase
	case imageref.DockerArchive:
		if _, err := checkDockerArchive(ref.Path); err != nil {
			return nil, err
		}
		img, err := tarball.ImageFromPath(ref.Path, nil)
		if err != nil {
			return nil, err
		}
		return img, checkPlatform(img, ref.String(), pl)
	default:
		return nil, fmt.Errorf("the reference %q has no manifest", ref)
	}
}

// checkPlatform refuses an image of one platform (not an index) whose
// config names another OS or architecture than pl: built on, its steps
// would run another architecture's programs. An image whose config names
// none is taken to be of any.
func checkPlatform(img v1.Image, name string, pl ir.Platform) error {
	if pl.OS == "" {
		return nil
	}
	cf, err := img.ConfigFile()
	if err != nil || cf.OS == "" || cf.Architecture == "" {
		return nil // reading it later says what is wrong
	}
	have := ir.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	if have.OS != pl.OS || have.Architecture != pl.Architecture || (pl.Variant != "" && have.Variant != "" && have.Variant != pl.Variant) {
		return &ir.NoPlatformError{Index: name, Want: pl, Have: []string{have.String()}, Single: true}
	}
	return nil
}

// noPlatform turns err, from fetching r for platform pl, into an
// *ir.NoPlatformError naming the platforms r has when r is an index
// without pl.
func noPlatform(ctx context.Context, r name.Reference, pl ir.Platform, err error) error {
	if !strings.Contains(err.Error(), "no child with platform") {
		return err
	}
	idx, ierr := remote.Index(r, registryOptions(ctx)...)
	if ierr != nil {
		return err
	}
	m, ierr := idx.IndexManifest()
	if ierr != nil {
		return err
	}
	var have []string
	for _, d := range m.Manifests {
		if d.Platform != nil {
			have = append(have, d.Platform.String())
		}
	}
	return &ir.NoPlatformError{Index: r.String(), Want: pl, Have: have}
}

// layoutImage finds an image in the OCI layout at path: the manifest (or
// index) of digest dgst, else the one named tag, else the only one. Every
// blob it reads, and every layer the image gives later, is verified
// against its digest and size.
func layoutImage(path, tag, dgst string, pl ir.Platform) (v1.Image, error) {
	l := ociLayout{dir: path}
	m, err := l.readIndex()
	if err != nil {
		return nil, err
	}
	var found []v1.Descriptor
	var names []string
	for _, d := range m.Manifests {
		n := d.Annotations[store.RefNameAnnotation]
		names = append(names, n)
		if (dgst == "" && (tag == "" || n == tag)) || (dgst != "" && d.Digest.String() == dgst) {
			found = append(found, d)
		}
	}
	if dgst != "" && len(found) == 0 {
		d, err := l.blobDescriptor(dgst)
		if err != nil {
			return nil, err
		}
		found = append(found, d)
	}
	switch {
	case len(found) == 0 && tag != "":
		return nil, fmt.Errorf("layout %s has no image tagged %q (it has %q)", path, tag, names)
	case len(found) == 0:
		return nil, fmt.Errorf("layout %s holds no image", path)
	case len(found) > 1 && dgst == "":
		return nil, fmt.Errorf("layout %s holds %d images: name one with oci:%s:TAG (tags %q)", path, len(found), path, names)
	}
	d := found[0]
	if d.MediaType.IsIndex() {
		child, err := l.index(d)
		if err != nil {
			return nil, err
		}
		want := v1Platform(pl)
		var have []string
		for _, cd := range child.Manifests {
			if cd.Platform != nil && cd.Platform.Satisfies(want) && !cd.MediaType.IsIndex() {
				return l.image(cd)
			}
			if cd.Platform != nil {
				have = append(have, cd.Platform.String())
			}
		}
		return nil, &ir.NoPlatformError{Index: d.Digest.String() + " of layout " + path, Want: pl, Have: have}
	}
	return l.image(d)
}

// PullBase makes the base b available in the store s and returns its state
// and manifest digest. A registry base pinned by digest whose manifest is
// already stored needs no network.
func PullBase(ctx context.Context, s *store.Store, b ir.Base, pl ir.Platform) (*store.ImageState, string, error) {
	if b.Kind == ir.BaseScratch {
		return &store.ImageState{Config: v1.ConfigFile{
			OS: pl.OS, Architecture: pl.Architecture, Variant: pl.Variant,
			RootFS: v1.RootFS{Type: "layers"},
		}}, "", nil
	}
	if b.Digest != "" {
		if h, err := v1.NewHash(b.Digest); err == nil && s.HasBlob(h) {
			if img, err := s.Image(h); err == nil {
				if st, err := importImage(s, img, false); err == nil {
					return st, b.Digest, nil
				}
			}
		}
	}
	img, err := openBase(ctx, b.Ref.Pinned(b.Digest), pl)
	var np *ir.NoPlatformError
	if errors.As(err, &np) && np.Single && img != nil {
		err = nil // the plan decided: an error where steps run on it
	}
	if err != nil {
		return nil, "", fmt.Errorf("pulling base image %q: %w", b.Ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return nil, "", fmt.Errorf("pulling base image %q: %w", b.Ref, err)
	}
	if b.Digest != "" && b.Kind != ir.BaseDockerArchive && d.String() != b.Digest {
		return nil, "", fmt.Errorf("pulling base image %q: its digest is %s, the plan pins %s", b.Ref, d, b.Digest)
	}
	// A docker archive has no digest chain from an index to its layers:
	// they are checked against the config's diff ids instead.
	st, err := importImage(s, img, b.Kind == ir.BaseDockerArchive)
	if err != nil {
		return nil, "", fmt.Errorf("pulling base image %q: %w", b.Ref, err)
	}
	return st, d.String(), nil
}

// importImage copies img's missing blobs into the store, verifying their
// digests and sizes (and with diffIDs, the digests of their uncompressed
// content) as they are copied, and returns its state with OCI media types.
func importImage(s *store.Store, img v1.Image, diffIDs bool) (*store.ImageState, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	var cfg v1.ConfigFile
	if err := json.Unmarshal(rawCfg, &cfg); err != nil {
		return nil, fmt.Errorf("parsing image config: %w", err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("image config has %d diff ids for %d layers", len(cfg.RootFS.DiffIDs), len(m.Layers))
	}
	st := &store.ImageState{Config: cfg, StartInterval: StartIntervalOf(rawCfg)}
	for i, ld := range m.Layers {
		mt, err := ociLayerMediaType(ld.MediaType)
		if err != nil {
			return nil, err
		}
		if ld.Size < 0 {
			return nil, fmt.Errorf("layer %s: the manifest gives it the negative size %d", ld.Digest, ld.Size)
		}
		if !s.HasBlob(ld.Digest) {
			l, err := img.LayerByDigest(ld.Digest)
			if err != nil {
				return nil, fmt.Errorf("reading layer %s: %w", ld.Digest, err)
			}
			rc, err := l.Compressed()
			if err != nil {
				return nil, fmt.Errorf("reading layer %s: %w", ld.Digest, err)
			}
			if diffIDs {
				rc = newDiffIDVerifier(rc, mt, cfg.RootFS.DiffIDs[i], fmt.Sprintf("layer %d of %d", i+1, len(m.Layers)))
			}
			_, _, err = s.PutBlobStream(rc, ld.Digest)
			rc.Close()
			if err != nil {
				return nil, fmt.Errorf("storing layer %s: %w", ld.Digest, err)
			}
		}
		// The size bounds unpacking (see UnpackLimits): it must be the
		// blob's.
		if fi, err := os.Stat(s.BlobPath(ld.Digest)); err != nil {
			return nil, err
		} else if fi.Size() != ld.Size {
			return nil, fmt.Errorf("layer %s has %d bytes, the manifest gives %d", ld.Digest, fi.Size(), ld.Size)
		}
		st.Layers = append(st.Layers, store.Layer{Digest: ld.Digest, DiffID: cfg.RootFS.DiffIDs[i], Size: ld.Size, MediaType: mt, FromBase: true})
	}
	if _, err := s.PutBlob(rawCfg); err != nil {
		return nil, fmt.Errorf("storing image config: %w", err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return nil, err
	}
	if _, err := s.PutBlob(raw); err != nil {
		return nil, fmt.Errorf("storing manifest: %w", err)
	}
	return st, nil
}

// ociLayerMediaType maps Docker layer media types to their OCI equivalents.
func ociLayerMediaType(mt types.MediaType) (types.MediaType, error) {
	switch mt {
	case types.DockerLayer, types.OCILayer, "":
		return types.OCILayer, nil
	case types.DockerUncompressedLayer, types.OCIUncompressedLayer:
		return types.OCIUncompressedLayer, nil
	case types.OCILayerZStd:
		return types.OCILayerZStd, nil
	case types.DockerForeignLayer, types.OCIRestrictedLayer:
		return "", fmt.Errorf("foreign (non-distributable) layers are not supported")
	}
	return "", fmt.Errorf("unsupported layer media type %q", mt)
}

// RemoteImage is what RemoteBase reads of a registry base.
type RemoteImage struct {
	Digest string // the manifest's
	Config *v1.ConfigFile
	// StartInterval is its healthcheck's (see store.ImageState).
	StartInterval time.Duration
	Layers        []v1.Hash
}

// RemoteBase reads a registry base's manifest digest (for platform pl),
// config and its layers' digests, without the layers: for a builder that pulls
// the layers itself. A pinned base must have its pinned digest.
func RemoteBase(ctx context.Context, b ir.Base, pl ir.Platform) (*RemoteImage, error) {
	img, err := openBase(ctx, b.Ref.Pinned(b.Digest), pl)
	if err != nil {
		return nil, fmt.Errorf("resolving base image %q: %w", b.Ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("resolving base image %q: %w", b.Ref, err)
	}
	if b.Digest != "" && d.String() != b.Digest {
		return nil, fmt.Errorf("resolving base image %q: its digest is %s, the plan pins %s", b.Ref, d, b.Digest)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading base image %q: %w", b.Ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading base image %q: %w", b.Ref, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("reading base image %q: its config has %d diff ids for %d layers", b.Ref, len(cfg.RootFS.DiffIDs), len(m.Layers))
	}
	ri := &RemoteImage{Digest: d.String(), Config: cfg, Layers: make([]v1.Hash, len(m.Layers))}
	if raw, err := img.RawConfigFile(); err == nil {
		ri.StartInterval = StartIntervalOf(raw)
	}
	for i, l := range m.Layers {
		ri.Layers[i] = l.Digest
	}
	return ri, nil
}
