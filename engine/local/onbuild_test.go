package local

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/engine/imageconfig"
	"github.com/imgc-dev/imgc/ir"
)

// A base's ONBUILD triggers run in the build on it and are never passed
// on: the image keeps only its own.
func TestMergeConfigDropsBaseTriggers(t *testing.T) {
	c := &v1.Config{OnBuild: []string{"RUN echo from-base"}}
	imageconfig.Merge(c, ir.ImageConfig{})
	if c.OnBuild != nil {
		t.Errorf("base triggers inherited: %q", c.OnBuild)
	}
	c = &v1.Config{OnBuild: []string{"RUN echo from-base"}}
	imageconfig.Merge(c, ir.ImageConfig{OnBuild: []string{"COPY . /src"}})
	if diff := cmp.Diff([]string{"COPY . /src"}, c.OnBuild); diff != "" {
		t.Errorf("own triggers (-want +got):\n%s", diff)
	}
}
