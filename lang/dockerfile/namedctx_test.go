package dockerfile

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/model"
)

func TestParseNamedContext(t *testing.T) {
	wd, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in, name string
		want     NamedContext
		err      string
	}{
		{in: "assets=./dir", name: "assets", want: NamedContext{Dir: filepath.Join(wd, "dir")}},
		{in: "assets=/abs/dir", name: "assets", want: NamedContext{Dir: "/abs/dir"}},
		{in: "base=oci-layout:///l/busybox:1.36", name: "base", want: NamedContext{Image: imageref.Ref{Kind: imageref.OCILayout, Path: "/l/busybox", Tag: "1.36"}}},
		{in: "base=oci-layout://rel", name: "base", want: NamedContext{Image: imageref.Ref{Kind: imageref.OCILayout, Path: "rel"}}},
		{in: "alpine=docker-image://busybox:1.36", name: "alpine", want: NamedContext{Image: imageref.MustParse("busybox:1.36")}},
		// BuildKit looks contexts up by the familiar name without :latest.
		{in: "docker.io/library/alpine:latest=/d", name: "alpine", want: NamedContext{Dir: "/d"}},
		{in: "nothing", err: "not NAME=VALUE"},
		{in: "x=", err: "not NAME=VALUE"},
		{in: "Bad Name=/d", err: "not a valid image name"},
		{in: "b=oci-layout:///l@sha256:" + strings.Repeat("a", 64), err: "by digest"},
		{in: "b=oci-layout://", err: "oci-layout://"},
		{in: "b=docker-image://Not A Ref", err: "docker-image://Not A Ref"},
		{in: "b=https://host/repo.git", err: "does not take https:// contexts"},
	}
	for _, tc := range tests {
		name, nc, err := ParseNamedContext(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseNamedContext(%q) error %v, want one with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseNamedContext(%q): %v", tc.in, err)
			continue
		}
		if name != tc.name {
			t.Errorf("ParseNamedContext(%q) name %q, want %q", tc.in, name, tc.name)
		}
		if diff := cmp.Diff(tc.want, nc); diff != "" {
			t.Errorf("ParseNamedContext(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestImportNamedContexts(t *testing.T) {
	layout := imageref.Ref{Kind: imageref.OCILayout, Path: "/l/base", Tag: "v1"}
	opts := Options{Contexts: map[string]NamedContext{
		"alpine": {Image: layout},
		"tools":  {Image: imageref.MustParse("busybox:1.36")},
		"assets": {Dir: "/src/assets"},
		"rootfs": {Dir: "/src/rootfs"},
	}}
	src := "FROM rootfs AS files\n" +
		"FROM docker.io/library/alpine:latest\n" +
		"COPY --from=assets a b /dst/\n" +
		"COPY --from=tools /bin/busybox /bin/\n" +
		"COPY --from=files / /files/\n" +
		"COPY local /l\n"
	cfg, diags := importString(t, src, opts)
	if diags.HasErrors() {
		t.Fatalf("diagnostics: %v", diags)
	}
	files := cfg.Stages[0]
	if diff := cmp.Diff(model.From{Base: &model.Scratch{}}, files.From, ignoreRanges); diff != "" {
		t.Errorf("directory FROM (-want +got):\n%s", diff)
	}
	wantRoot := []model.Step{&model.Copy{FileSpec: model.FileSpec{Src: []string{"."}, Dest: "/"}, Context: "/src/rootfs"}}
	if diff := cmp.Diff(wantRoot, files.Steps, ignoreRanges); diff != "" {
		t.Errorf("directory FROM steps (-want +got):\n%s", diff)
	}
	main := cfg.Stages[1]
	if diff := cmp.Diff(&model.Image{Ref: layout}, main.From.Base); diff != "" {
		t.Errorf("FROM alpine with an alpine context (-want +got):\n%s", diff)
	}
	want := []model.Step{
		&model.Copy{FileSpec: model.FileSpec{Src: []string{"a", "b"}, Dest: "/dst/"}, Context: "/src/assets"},
		&model.Copy{FileSpec: model.FileSpec{Src: []string{"/bin/busybox"}, Dest: "/bin/"}, From: &model.Image{Ref: imageref.MustParse("busybox:1.36")}},
		&model.Copy{FileSpec: model.FileSpec{Src: []string{"/"}, Dest: "/files/"}, From: &model.Target{Name: "files"}},
		&model.Copy{FileSpec: model.FileSpec{Src: []string{"local"}, Dest: "/l"}},
	}
	if diff := cmp.Diff(want, main.Steps, ignoreRanges); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}

func TestImportNamedContextErrors(t *testing.T) {
	opts := Options{Contexts: map[string]NamedContext{"dir": {Dir: "/src/dir"}, "build": {Dir: "/src/b"}}}
	tests := []struct{ src, summary string }{
		{"FROM scratch\nRUN --mount=from=dir,target=/m true\n", "Directory context in a mount"},
		{"FROM scratch AS build\nRUN true\n", "Named context replaces a stage"},
	}
	for _, tc := range tests {
		_, diags := importString(t, tc.src, opts)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.summary) {
			t.Errorf("%q: diagnostics %v, want %q", tc.src, diags, tc.summary)
		}
	}
}
