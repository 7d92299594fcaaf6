package imageio

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/imgc-dev/imgc/ir"
)

// BaseOnBuild returns the ONBUILD triggers in the config of a base image
// written as a Dockerfile's FROM writes it, so that the importer can run
// them as Docker does. "oci:PATH[:TAG]" and "docker-archive:PATH" are read
// from disk (a relative PATH against dir); a registry reference is fetched
// only when remote is set, and otherwise gives no triggers.
func BaseOnBuild(ctx context.Context, ref, dir string, pl ir.Platform, remote bool) ([]string, error) {
	kind := ir.BaseRegistry
	for prefix, k := range map[string]ir.BaseKind{"oci:": ir.BaseOCILayout, "docker-archive:": ir.BaseDockerArchive} {
		if p, ok := strings.CutPrefix(ref, prefix); ok {
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			kind, ref = k, prefix+p
		}
	}
	if kind == ir.BaseRegistry && !remote {
		return nil, nil
	}
	img, err := openBase(ctx, kind, ref, pl)
	if err != nil {
		return nil, fmt.Errorf("reading base image %q: %w", ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the config of base image %q: %w", ref, err)
	}
	return cf.Config.OnBuild, nil
}
