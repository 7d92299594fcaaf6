package dockerfile

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
	"github.com/hashicorp/hcl/v2"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"

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
const NamedContextForms = "NAME=DIR (a directory, relative or absolute), NAME=oci-layout://PATH[:TAG][@DIGEST] (an OCI image layout) or NAME=docker-image://REF (a registry image)"

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
		// PATH[:TAG][@DIGEST], read as buildx's ocilayout.Parse reads it:
		// the digest, when given, selects the image.
		ref, err := imageref.Parse("oci:" + strings.TrimPrefix(value, "oci-layout://"))
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

// stageContext returns the named context that replaces the stage name,
// if any: BuildKit looks a context up by every stage's name first
// (dockerfile2llb's buildDispatchStates), so --build-context NAME=...
// takes the place of FROM ... AS NAME.
func (rd *reader) stageContext(name string) (NamedContext, bool) {
	if name == "" {
		return NamedContext{}, false
	}
	return rd.namedContext(name)
}

// replaceStage makes s the named context nc instead of what its FROM and
// its n instructions say, as BuildKit does: the stage keeps its name
// (FROM NAME, COPY --from=NAME and --target read the context), and its
// base and instructions are neither read nor built, nor the ONBUILD
// triggers of an image context.
func (rd *reader) replaceStage(s *stageState, nc NamedContext, fc *instructions.Stage, n int, rng hcl.Range) {
	rd.platform(s, fc.Platform, rng)
	rd.fromContext(s, nc, rng)
	rd.stages = append(rd.stages, s)
	rd.f.stages = append(rd.f.stages, s.st)
	what := "the directory " + nc.Dir
	if nc.Dir == "" {
		what = "the image " + nc.Image.Qualified()
	}
	skipped := " is"
	if n > 0 {
		skipped = fmt.Sprintf(" and its %d instructions are", n)
		if n == 1 {
			skipped = " and its instruction is"
		}
	}
	rd.warnf(rng, "Stage replaced by a named context", "--build-context %s replaces the stage %q with %s, as in BuildKit: its base%s not built. Rename the stage or the context to build the stage.", fc.Name, fc.Name, what, skipped)
	rd.finishStage(s)
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
