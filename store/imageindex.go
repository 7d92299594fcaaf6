package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgc-dev/imgc/ir"
)

// IsIndex tells whether the stored manifest h is an image index (a
// multi-platform image) rather than an image manifest.
func (s *Store) IsIndex(h v1.Hash) (bool, error) {
	raw, err := os.ReadFile(s.BlobPath(h))
	if err != nil {
		return false, fmt.Errorf("reading manifest %s: %w", h, err)
	}
	var probe struct {
		MediaType types.MediaType `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return false, fmt.Errorf("parsing manifest %s: %w", h, err)
	}
	return probe.MediaType.IsIndex() || (probe.MediaType == "" && probe.Manifests != nil), nil
}

// storeIndex is an image index whose manifests are blobs of the store.
type storeIndex struct {
	s   *Store
	raw []byte
	m   *v1.IndexManifest
}

// Index reads the image index with digest h from the store.
func (s *Store) Index(h v1.Hash) (v1.ImageIndex, error) {
	raw, err := os.ReadFile(s.BlobPath(h))
	if err != nil {
		return nil, fmt.Errorf("reading index %s: %w", h, err)
	}
	m, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing index %s: %w", h, err)
	}
	return &storeIndex{s: s, raw: raw, m: m}, nil
}

func (x *storeIndex) MediaType() (types.MediaType, error) {
	if x.m.MediaType != "" {
		return x.m.MediaType, nil
	}
	return types.OCIImageIndex, nil
}
func (x *storeIndex) Digest() (v1.Hash, error)                    { return partial.Digest(x) }
func (x *storeIndex) Size() (int64, error)                        { return int64(len(x.raw)), nil }
func (x *storeIndex) IndexManifest() (*v1.IndexManifest, error)   { return x.m.DeepCopy(), nil }
func (x *storeIndex) RawManifest() ([]byte, error)                { return x.raw, nil }
func (x *storeIndex) Image(h v1.Hash) (v1.Image, error)           { return x.s.Image(h) }
func (x *storeIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) { return x.s.Index(h) }

// LookupImageFor finds the stored image named n, as LookupImage, and when
// it is an index (a multi-platform image), its image for platform p (see
// PlatformImage). An image of one platform that is not p (p not zero) is
// a *PlatformError, as docker run --platform refuses it.
func (s *Store) LookupImageFor(n string, p ir.Platform) (v1.Descriptor, error) {
	d, err := s.LookupImage(n)
	if err != nil {
		return d, err
	}
	isIndex, err := s.IsIndex(d.Digest)
	if err != nil {
		return d, err
	}
	if !isIndex {
		if p.OS == "" {
			return d, nil
		}
		img, err := s.Image(d.Digest)
		if err != nil {
			return d, err
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			return d, fmt.Errorf("reading image %s: %w", n, err)
		}
		have := v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
		if cfg.Architecture != "" && !have.Satisfies(v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}) {
			return d, fmt.Errorf("%s: %w", n, &PlatformError{Want: p.String(), Have: []string{have.String()}})
		}
		return d, nil
	}
	c, err := s.PlatformImage(d.Digest, p)
	if err != nil {
		return c, fmt.Errorf("%s: %w", n, err)
	}
	return c, nil
}

// PlatformImage finds the image for platform p in the stored index h; with
// p zero, the one for the host's platform, or the only one. It names the
// platforms the index has when none fits.
func (s *Store) PlatformImage(h v1.Hash, p ir.Platform) (v1.Descriptor, error) {
	idx, err := s.Index(h)
	if err != nil {
		return v1.Descriptor{}, err
	}
	m, _ := idx.IndexManifest()
	if p.OS == "" {
		host := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
		for _, d := range m.Manifests {
			if d.Platform != nil && d.Platform.Satisfies(host) {
				return d, nil
			}
		}
	}
	var have []string
	for _, d := range m.Manifests {
		if d.Platform == nil {
			continue
		}
		have = append(have, d.Platform.String())
		want := v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}
		if p.OS != "" && d.Platform.Satisfies(want) {
			return d, nil
		}
	}
	if p.OS == "" && len(m.Manifests) == 1 {
		return m.Manifests[0], nil
	}
	if p.OS == "" {
		return v1.Descriptor{}, &PlatformError{Have: have}
	}
	return v1.Descriptor{}, &PlatformError{Want: p.String(), Have: have}
}

// PlatformError is a multi-platform image asked for a platform it lacks,
// or for none.
type PlatformError struct {
	Want string
	Have []string
}

func (e *PlatformError) Error() string {
	if e.Want == "" {
		return fmt.Sprintf("the image is an index of several platforms (%s): choose one with --platform", join(e.Have))
	}
	return fmt.Sprintf("the image has no %s image; it has %s", e.Want, join(e.Have))
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}
