package compiler

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/imgc-dev/imgc/ir"
)

// parseRef reads a `from` string (or a copy/mount source image) into a
// base: a registry reference normalised as Docker does, or an OCI layout or
// docker archive path made absolute against dir. The key is set later.
func parseRef(ref, dir string) (ir.Base, error) {
	switch {
	case ref == "scratch":
		return ir.Base{Kind: ir.BaseScratch}, nil
	case strings.HasPrefix(ref, "oci:"):
		p, tag := strings.TrimPrefix(ref, "oci:"), ""
		// A tag follows the last ":" unless that ":" is part of the path.
		if i := strings.LastIndexByte(p, ':'); i >= 0 && !strings.Contains(p[i:], "/") {
			p, tag = p[:i], p[i+1:]
		}
		if p == "" {
			return ir.Base{}, fmt.Errorf("the reference %q names no directory", ref)
		}
		abs := absAgainst(p, dir)
		if tag != "" {
			abs += ":" + tag
		}
		return ir.Base{Kind: ir.BaseOCILayout, Ref: abs}, nil
	case strings.HasPrefix(ref, "docker-archive:"):
		p := strings.TrimPrefix(ref, "docker-archive:")
		if p == "" {
			return ir.Base{}, fmt.Errorf("the reference %q names no file", ref)
		}
		return ir.Base{Kind: ir.BaseDockerArchive, Ref: absAgainst(p, dir)}, nil
	}
	norm, digest, err := normaliseRef(ref)
	if err != nil {
		return ir.Base{}, err
	}
	return ir.Base{Kind: ir.BaseRegistry, Ref: norm, Digest: digest}, nil
}

func absAgainst(p, dir string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

// normaliseRef expands a registry reference as Docker does
// ("debian" -> "docker.io/library/debian:latest") and returns its digest
// when it carries one ("NAME[:TAG]@sha256:...").
func normaliseRef(ref string) (norm, digest string, err error) {
	if _, err := name.ParseReference(ref); err != nil {
		return "", "", fmt.Errorf("parsing image reference %q: %w", ref, err)
	}
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
		return "", "", fmt.Errorf("parsing image reference %q: %w", ref, err)
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
