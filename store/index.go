package store

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// RefNameAnnotation names an image in an OCI layout's index.json.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// BlockNameAnnotation keeps, on a stored image's index entry, the name of
// the image block (or Dockerfile stage) that built it, so that commands
// find an image by that name even when it has tags.
const BlockNameAnnotation = "dev.imgc.image.block"

// readIndex reads the store's index.json.
func (s *Store) readIndex() (*v1.IndexManifest, error) {
	f, err := os.Open(s.path("oci", "index.json"))
	if err != nil {
		return nil, fmt.Errorf("reading store index: %w", err)
	}
	defer f.Close()
	m, err := v1.ParseIndexManifest(f)
	if err != nil {
		return nil, fmt.Errorf("reading store index: %w", err)
	}
	return m, nil
}

// TagImages points each name at desc in the store's index.json, replacing
// earlier images of the same names.
func (s *Store) TagImages(desc v1.Descriptor, names []string) error {
	return s.retag(names, &desc)
}

func (s *Store) writeIndex(m *v1.IndexManifest) error {
	m.MediaType = types.OCIImageIndex
	m.SchemaVersion = 2
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.path("oci", "index.json"), data); err != nil {
		return fmt.Errorf("writing store index: %w", err)
	}
	return nil
}

// StoredName is one name of a stored image.
type StoredName struct {
	Name   string
	Block  string // the image block that built it, if imgc did
	Digest v1.Hash
}

// Names lists every name in the store, in index order.
func (s *Store) Names() ([]StoredName, error) {
	m, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var out []StoredName
	for _, d := range m.Manifests {
		out = append(out, StoredName{Name: d.Annotations[RefNameAnnotation], Block: d.Annotations[BlockNameAnnotation], Digest: d.Digest})
	}
	return out, nil
}

// Untag removes the names from the store's index. The images' blobs stay
// until `imgc cache prune` finds no name needs them.
func (s *Store) Untag(names []string) error {
	return s.retag(names, nil)
}

// retag removes names from the store's index.json and, when desc is not
// nil, points each of them at desc.
func (s *Store) retag(names []string, desc *v1.Descriptor) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := s.Lock("index")
	if err != nil {
		return err
	}
	defer l.Unlock()
	m, err := s.readIndex()
	if err != nil {
		return err
	}
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	kept := []v1.Descriptor{}
	for _, d := range m.Manifests {
		if !drop[d.Annotations[RefNameAnnotation]] {
			kept = append(kept, d)
		}
	}
	for _, n := range names {
		if desc != nil {
			d := *desc
			d.Annotations = map[string]string{RefNameAnnotation: n}
			if b := desc.Annotations[BlockNameAnnotation]; b != "" {
				d.Annotations[BlockNameAnnotation] = b
			}
			kept = append(kept, d)
		}
	}
	m.Manifests = kept
	return s.writeIndex(m)
}

// NoImageError is returned by the commands that name a stored image when
// there is no image of that name.
type NoImageError struct{ Name string }

func (e *NoImageError) Error() string {
	return fmt.Sprintf("no image named %q in the store (see imgc images)", e.Name)
}

// LookupImage finds the stored image named n: a name (a tag, or an
// untagged image block's name), its normalised registry spelling, the name
// of the image block that built it (the latest built, when several
// projects have one of that name), or its digest (sha256:HEX, or at least
// 12 hex digits of it).
func (s *Store) LookupImage(n string) (v1.Descriptor, error) {
	m, err := s.readIndex()
	if err != nil {
		return v1.Descriptor{}, err
	}
	for _, d := range m.Manifests {
		if d.Annotations[RefNameAnnotation] == n {
			return d, nil
		}
	}
	// Accept the normalised spelling of a registry name too.
	if ref, err := name.ParseReference(n); err == nil {
		for _, d := range m.Manifests {
			if r2, err := name.ParseReference(d.Annotations[RefNameAnnotation]); err == nil && r2.Name() == ref.Name() {
				return d, nil
			}
		}
	}
	for i := len(m.Manifests) - 1; i >= 0; i-- {
		if d := m.Manifests[i]; d.Annotations[BlockNameAnnotation] == n {
			return d, nil
		}
	}
	if hex, ok := digestPrefix(n); ok {
		for _, d := range m.Manifests {
			if strings.HasPrefix(d.Digest.Hex, hex) {
				return d, nil
			}
		}
		// A platform's image of a stored index, by the digest a
		// multi-platform build printed for it.
		for _, d := range m.Manifests {
			if !d.MediaType.IsIndex() {
				continue
			}
			idx, err := s.Index(d.Digest)
			if err != nil {
				continue
			}
			im, err := idx.IndexManifest()
			if err != nil {
				continue
			}
			for _, c := range im.Manifests {
				if strings.HasPrefix(c.Digest.Hex, hex) && !c.MediaType.IsIndex() {
					return c, nil
				}
			}
		}
	}
	return v1.Descriptor{}, &NoImageError{Name: n}
}

// digestPrefix reads "sha256:HEX" or a bare hex prefix of 12 digits or
// more, as docker takes image ids.
func digestPrefix(n string) (string, bool) {
	hex := strings.TrimPrefix(n, "sha256:")
	if len(hex) < 12 || len(hex) > 64 {
		return "", false
	}
	for _, r := range hex {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return "", false
		}
	}
	return hex, true
}
