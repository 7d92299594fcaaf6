// Package imageref is the one parser of image references: a registry
// reference, an OCI image layout on disk or a docker archive on disk. The
// front ends parse a reference once, into a Ref, and the model, the IR and
// the engine carry that value; nothing downstream reads the string again.
//
// It imports no imgc package, so that every layer, the IR included, may
// use it. It does not resolve or fetch anything.
package imageref

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Kind says where an image is read from.
type Kind string

const (
	Registry      Kind = "registry"       // NAME[:TAG][@DIGEST]
	OCILayout     Kind = "oci"            // oci:PATH[:TAG][@DIGEST]
	DockerArchive Kind = "docker-archive" // docker-archive:PATH
)

// Ref is a parsed image reference. The zero Ref is no reference.
type Ref struct {
	Kind Kind
	// Name is a registry reference normalised as Docker does
	// ("debian" is docker.io/library/debian:latest), digest included.
	Name string
	// Digest is the manifest digest a registry reference pins, or "";
	// for an OCI layout, the manifest or index it selects by digest
	// (which wins over Tag, as buildx's oci-layout:// does).
	Digest string
	// Path is an OCI layout's directory or a docker archive's file, as
	// written until InDir makes it absolute.
	Path string
	// Tag names one image of an OCI layout; "" means its only one.
	Tag string
}

// layoutDigest is a digest as an OCI layout names its blobs.
var layoutDigest = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// ErrNoPath is the error for "oci:" or "docker-archive:" without a path.
var ErrNoPath = errors.New("names no path")

// Parse reads NAME[:TAG][@DIGEST], oci:PATH[:TAG][@DIGEST] or
// docker-archive:PATH.
// A registry reference's error is go-containerregistry's, which says what
// is wrong with it.
func Parse(s string) (Ref, error) {
	switch {
	case strings.HasPrefix(s, "oci:"):
		p, tag := strings.TrimPrefix(s, "oci:"), ""
		// A digest follows the last "@" when what follows is one (as
		// buildx's ocilayout.Parse reads it): a path may hold "@".
		digest := ""
		if i := strings.LastIndexByte(p, '@'); i >= 0 && layoutDigest.MatchString(p[i+1:]) {
			p, digest = p[:i], p[i+1:]
		}
		// A tag follows the last ":" unless that ":" is part of the path.
		if i := strings.LastIndexByte(p, ':'); i >= 0 && !strings.Contains(p[i:], "/") {
			p, tag = p[:i], p[i+1:]
		}
		if p == "" {
			return Ref{}, ErrNoPath
		}
		return Ref{Kind: OCILayout, Path: p, Tag: tag, Digest: digest}, nil
	case strings.HasPrefix(s, "docker-archive:"):
		p := strings.TrimPrefix(s, "docker-archive:")
		if p == "" {
			return Ref{}, ErrNoPath
		}
		return Ref{Kind: DockerArchive, Path: p}, nil
	}
	if _, err := name.ParseReference(s); err != nil {
		return Ref{}, err
	}
	norm, digest, err := normalise(s)
	if err != nil {
		return Ref{}, err
	}
	return Ref{Kind: Registry, Name: norm, Digest: digest}, nil
}

// MustParse is Parse for references known to be valid; it panics
// otherwise.
func MustParse(s string) Ref {
	r, err := Parse(s)
	if err != nil {
		panic(fmt.Sprintf("imageref.MustParse(%q): %v", s, err))
	}
	return r
}

// IsZero reports whether r is no reference.
func (r Ref) IsZero() bool { return r.Kind == "" }

// Local reports whether r is read from disk (a layout or an archive).
func (r Ref) Local() bool { return r.Kind == OCILayout || r.Kind == DockerArchive }

// InDir makes a local reference's relative path absolute against dir.
func (r Ref) InDir(dir string) Ref {
	if r.Local() {
		if filepath.IsAbs(r.Path) {
			r.Path = filepath.Clean(r.Path)
		} else {
			r.Path = filepath.Join(dir, r.Path)
		}
	}
	return r
}

// String is the reference without its kind: a registry reference's
// normalised name, a layout's PATH[:TAG], an archive's PATH. It is the key
// of a pin in the lock file.
func (r Ref) String() string {
	switch r.Kind {
	case Registry:
		return r.Name
	case OCILayout:
		s := r.Path
		if r.Tag != "" {
			s += ":" + r.Tag
		}
		if r.Digest != "" {
			s += "@" + r.Digest
		}
		return s
	case DockerArchive:
		return r.Path
	}
	return ""
}

// Qualified is String with a local reference's kind in front
// ("oci:/images/base:v2"), as a configuration writes it.
func (r Ref) Qualified() string {
	if r.Local() {
		return string(r.Kind) + ":" + r.String()
	}
	return r.String()
}

// Pinned is r fetched by digest: a registry reference gets digest (unless
// it carries one already); other references are returned as they are.
func (r Ref) Pinned(digest string) Ref {
	if r.Kind == Registry && digest != "" && r.Digest == "" {
		r.Name += "@" + digest
		r.Digest = digest
	}
	return r
}

// MarshalText writes String, so that JSON shows a reference as text.
func (r Ref) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// normalise expands a registry reference as Docker does
// ("debian" -> "docker.io/library/debian:latest") and returns its digest
// when it carries one ("NAME[:TAG]@sha256:...").
func normalise(ref string) (norm, digest string, err error) {
	base := ref
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		base, digest = ref[:i], ref[i+1:]
	}
	var repo name.Repository
	tag := ""
	if t, err := name.NewTag(base); err == nil && (digest == "" || hasTag(base)) {
		repo, tag = t.Context(), t.TagStr()
	} else if r, err := name.NewRepository(base); err == nil {
		repo = r
	} else {
		return "", "", err
	}
	reg := repo.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	norm = reg + "/" + repo.RepositoryStr()
	if tag != "" {
		norm += ":" + tag
	}
	if digest != "" {
		norm += "@" + digest
	}
	return norm, digest, nil
}

// hasTag reports whether a reference without digest names a tag: a ":"
// after the last "/".
func hasTag(ref string) bool {
	return strings.Contains(ref[strings.LastIndexByte(ref, '/')+1:], ":")
}
