package imageio_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/internal/testbase"
	"github.com/imgc-dev/imgc/ir"
)

func TestBaseOnBuildReadsTriggers(t *testing.T) {
	img, err := testbase.BusyboxV1Image()
	if err != nil {
		t.Skipf("skipping: no busybox to make a base from: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	triggers := []string{"RUN echo triggered", "ENV X=1"}
	cf.Config.OnBuild = triggers
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	ctxDir := t.TempDir()
	p, err := layout.Write(filepath.Join(ctxDir, "base"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "v1"})); err != nil {
		t.Fatal(err)
	}
	pl := ir.Platform{OS: "linux", Architecture: "amd64"}
	got, err := imageio.BaseOnBuild(context.Background(), imageref.MustParse("oci:base:v1"), ctxDir, pl, false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(triggers, got); diff != "" {
		t.Errorf("triggers of a relative oci: base (-want +got):\n%s", diff)
	}
	if got, err := imageio.BaseOnBuild(context.Background(), imageref.MustParse("example.invalid/app:1"), ctxDir, pl, false); err != nil || got != nil {
		t.Errorf("a registry base without remote gave %q, %v; want nothing", got, err)
	}
	if _, err := imageio.BaseOnBuild(context.Background(), imageref.MustParse("oci:missing:v1"), ctxDir, pl, false); err == nil {
		t.Error("a missing layout gave no error")
	}
}
