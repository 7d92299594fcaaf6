package dockerfile

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/model"
)

// NamedContext is the value of one --build-context NAME=VALUE: a
// directory (Dir) or an image (Image), which a FROM NAME or --from=NAME
// reads instead of an image or a stage of that name, as BuildKit's
// context:NAME frontend options do.
type NamedContext struct {
	Dir   string
	Image imageref.Ref
}

// NamedContextForms says what --build-context takes, for diagnostics.
const NamedContextForms = "NAME=DIR (a directory, relative or absolute), NAME=oci-layout://PATH[:TAG] (an OCI image layout) or NAME=docker-image://REF (a registry image)"

// ParseNamedContext reads one --build-context value; a relative directory
// is made absolute against the current directory.
func ParseNamedContext(s string) (string, NamedContext, error) {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" || value == "" {
		return "", NamedContext{}, errors.New("it is not NAME=VALUE")
	}
	key, err := contextKey(name)
	if err != nil {
		return "", NamedContext{}, fmt.Errorf("the name %q is not a valid image name (lower case letters, digits, '.', '_', '-', '/'): %w", name, err)
	}
	switch {
	case strings.HasPrefix(value, "oci-layout://"):
		p := strings.TrimPrefix(value, "oci-layout://")
		if strings.Contains(p, "@") {
			return "", NamedContext{}, fmt.Errorf("imgc does not select an OCI layout's image by digest yet (%s); name it by its tag, oci-layout://PATH:TAG", value)
		}
		ref, err := imageref.Parse("oci:" + p)
		if err != nil {
			return "", NamedContext{}, fmt.Errorf("reading %s: %w", value, err)
		}
		return key, NamedContext{Image: ref}, nil
	case strings.HasPrefix(value, "docker-image://"):
		ref, err := imageref.Parse(strings.TrimPrefix(value, "docker-image://"))
		if err != nil {
			return "", NamedContext{}, fmt.Errorf("reading %s: %w", value, err)
		}
		return key, NamedContext{Image: ref}, nil
	case strings.Contains(value, "://"):
		return "", NamedContext{}, fmt.Errorf("imgc does not take %s contexts", value[:strings.Index(value, "://")+3])
	}
	abs, err := filepath.Abs(value)
	if err != nil {
		return "", NamedContext{}, fmt.Errorf("resolving %s: %w", value, err)
	}
	return key, NamedContext{Dir: abs}, nil
}

// contextKey is the name BuildKit looks a named context up by: the
// familiar form of an image name, without ":latest" (so FROM
// docker.io/library/alpine:latest reads the context alpine).
func contextKey(name string) (string, error) {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(reference.FamiliarString(named), ":latest"), nil
}

// namedContext returns the named context a FROM or --from word names, if
// any; "scratch" and "context" never name one, as in BuildKit.
func (rd *reader) namedContext(word string) (NamedContext, bool) {
	if len(rd.opts.Contexts) == 0 || strings.EqualFold(word, "scratch") || strings.EqualFold(word, "context") {
		return NamedContext{}, false
	}
	key, err := contextKey(word)
	if err != nil {
		return NamedContext{}, false
	}
	nc, ok := rd.opts.Contexts[key]
	return nc, ok
}

// checkContextStages rejects a named context that has a stage's name:
// BuildKit then skips the stage's instructions, which imgc does not.
func (rd *reader) checkContextStages(name string, rng hcl.Range) {
	if _, ok := rd.namedContext(name); ok {
		rd.errorf(rng, "Named context replaces a stage", "--build-context %s names this stage. BuildKit would build the context in its place; imgc does not replace stages yet. Rename the stage or the context.", name)
	}
}

// fromContext makes a named context a stage's base and returns it when
// it is an image. A directory is, as in BuildKit, an image whose root
// file system is the directory: scratch and one copy of all of it.
func (rd *reader) fromContext(s *stageState, nc NamedContext, rng hcl.Range) *model.Image {
	if nc.Dir == "" {
		s.external = true
		image := &model.Image{Ref: nc.Image}
		s.st.From.Base = image
		return image
	}
	s.st.From.Base = &model.Scratch{}
	s.workdirKnown = true
	s.st.Steps = append(s.st.Steps, &copyForm{
		fileForm: fileForm{Src: []text{{Value: "."}}, Dest: text{Value: "/"}},
		Context:  nc.Dir,
		Range:    rng,
	})
	s.stepped = true
	return nil
}
