package store

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// RefNameAnnotation names an image in an OCI layout's index.json.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

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
		d := desc
		d.Annotations = map[string]string{RefNameAnnotation: n}
		kept = append(kept, d)
	}
	m.Manifests = kept
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

// NoImageError is returned by the commands that name a stored image when
// there is no image of that name.
type NoImageError struct{ Name string }

func (e *NoImageError) Error() string {
	return fmt.Sprintf("no image named %q in the store (see imgc images)", e.Name)
}

// LookupImage finds the stored image named n.
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
	return v1.Descriptor{}, &NoImageError{Name: n}
}
