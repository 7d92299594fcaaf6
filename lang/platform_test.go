package lang

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPlatformValue(t *testing.T) {
	dir := t.TempDir()
	src := `
stage "build" {
  from     = "scratch"
  platform = platform.build
  env = {
    GOOS   = platform.os
    GOARCH = platform.arch
    GOARM  = platform.variant
    TARGET = platform.target
    HOST   = "${platform.build_os}/${platform.build_arch}${platform.build_variant}"
  }
}

image "app" {
  from = "scratch"
  copy {
    from = stage.build
    src  = "/out"
    dest = "/"
  }
}
`
	path := filepath.Join(dir, "app.image.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := Load(path, Options{Platform: "linux/arm/v7", BuildPlatform: "linux/amd64"})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	st := cfg.Stages[0]
	if st.Platform != "linux/amd64" {
		t.Errorf("platform = %q, want the build platform linux/amd64", st.Platform)
	}
	got := map[string]string{}
	for _, e := range st.Env {
		got[e.Name] = e.Value
	}
	want := map[string]string{"GOOS": "linux", "GOARCH": "arm", "GOARM": "v7", "TARGET": "linux/arm/v7", "HOST": "linux/amd64"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
}
