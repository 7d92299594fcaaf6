package imageio

import (
	"context"
	"fmt"

	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/ir"
)

// BaseOnBuild returns the ONBUILD triggers in the config of a base image
// that a Dockerfile's FROM names, so that the importer can run them as
// Docker does. An OCI layout or docker archive is read from disk (a
// relative path against dir); a registry image is fetched only when remote
// is set, and otherwise gives no triggers.
func BaseOnBuild(ctx context.Context, ref imageref.Ref, dir string, pl ir.Platform, remote bool) ([]string, error) {
	if ref.Kind == imageref.Registry && !remote {
		return nil, nil
	}
	ref = ref.InDir(dir)
	img, err := openBase(ctx, ref, pl)
	if err != nil {
		return nil, fmt.Errorf("reading base image %q: %w", ref.Qualified(), err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the config of base image %q: %w", ref.Qualified(), err)
	}
	return cf.Config.OnBuild, nil
}
