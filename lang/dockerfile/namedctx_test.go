package dockerfile

import (
	"fmt"
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
		{in: "b=oci-layout:///l@sha256:" + strings.Repeat("a", 64), name: "b", want: NamedContext{Image: imageref.Ref{Kind: imageref.OCILayout, Path: "/l", Digest: "sha256:" + strings.Repeat("a", 64)}}},
		{in: "b=oci-layout:///l:v1@sha256:" + strings.Repeat("a", 64), name: "b", want: NamedContext{Image: imageref.Ref{Kind: imageref.OCILayout, Path: "/l", Tag: "v1", Digest: "sha256:" + strings.Repeat("a", 64)}}},
		// An "@" that is no digest is part of the path.
		{in: "b=oci-layout:///l/@/x", name: "b", want: NamedContext{Image: imageref.Ref{Kind: imageref.OCILayout, Path: "/l/@/x"}}},
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
	wantRoot := []model.Step{&model.Copy{FileSpec: model.FileSpec{Src: []string{"."}, Dest: "/"}, Context: "/src/rootfs", NamedContext: true}}
	if diff := cmp.Diff(wantRoot, files.Steps, ignoreRanges); diff != "" {
		t.Errorf("directory FROM steps (-want +got):\n%s", diff)
	}
	main := cfg.Stages[1]
	if diff := cmp.Diff(&model.Image{Ref: layout}, main.From.Base); diff != "" {
		t.Errorf("FROM alpine with an alpine context (-want +got):\n%s", diff)
	}
	want := []model.Step{
		&model.Copy{FileSpec: model.FileSpec{Src: []string{"a", "b"}, Dest: "/dst/"}, Context: "/src/assets", NamedContext: true},
		&model.Copy{FileSpec: model.FileSpec{Src: []string{"/bin/busybox"}, Dest: "/bin/"}, From: &model.Image{Ref: imageref.MustParse("busybox:1.36")}},
		&model.Copy{FileSpec: model.FileSpec{Src: []string{"/"}, Dest: "/files/"}, From: &model.Target{Name: "files"}},
		&model.Copy{FileSpec: model.FileSpec{Src: []string{"local"}, Dest: "/l"}},
	}
	if diff := cmp.Diff(want, main.Steps, ignoreRanges); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}

// TestImportNamedContextMounts: --mount=from=NAME of a directory context
// mounts the directory (read-only unless rw, as BuildKit's bind).
func TestImportNamedContextMounts(t *testing.T) {
	opts := Options{Contexts: map[string]NamedContext{"dir": {Dir: "/src/dir"}}}
	src := "FROM scratch\n" +
		"RUN --mount=from=dir,target=/m --mount=from=dir,source=sub,target=/w,rw --mount=type=cache,from=dir,target=/c true\n"
	cfg, diags := importString(t, src, opts)
	if diags.HasErrors() {
		t.Fatalf("diagnostics: %v", diags)
	}
	run, ok := cfg.Stages[0].Steps[0].(*model.Run)
	if !ok {
		t.Fatalf("step %T, want a run", cfg.Stages[0].Steps[0])
	}
	want := []model.Mount{
		{Type: "bind", Target: "/m", Context: "/src/dir", ReadOnly: true},
		{Type: "bind", Target: "/w", Source: "sub", Context: "/src/dir"},
		{Type: "cache", Target: "/c", ID: "/c", Sharing: "shared", Context: "/src/dir"},
	}
	if diff := cmp.Diff(want, run.Mounts, ignoreRanges); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}
	if len(diags) != 0 {
		t.Errorf("diagnostics %v, want none", diags)
	}
	// A cache mount from a stage starts empty, unlike BuildKit's: a
	// warning says so.
	_, diags = importString(t, "FROM scratch AS a\nFROM scratch\nRUN --mount=type=cache,from=a,target=/c true\n", opts)
	if len(diags) != 1 || diags[0].Summary != "Cache mount not seeded" || diags[0].Subject.Start.Line != 3 {
		t.Errorf("diagnostics %v, want one warning \"Cache mount not seeded\" at line 3", diags)
	}
}

// TestImportContextReplacesStage: a context named like a stage takes its
// place, as in BuildKit: FROM NAME, COPY --from=NAME and the stage itself
// are the context, and the stage's base and instructions are not read.
func TestImportContextReplacesStage(t *testing.T) {
	img := imageref.MustParse("busybox:1.36")
	opts := Options{Contexts: map[string]NamedContext{"files": {Dir: "/src/files"}, "tools": {Image: img}}}
	src := "FROM scratch AS files\n" +
		"COPY nothing-here /\n" +
		"RUN --mount=from=undefined-stage false\n" +
		"FROM ${UNDEFINED} AS tools\n" +
		"FROM tools\n" +
		"COPY --from=files / /files/\n"
	cfg, diags := importString(t, src, opts)
	if diags.HasErrors() {
		t.Fatalf("diagnostics: %v", diags)
	}
	var warned []string
	for _, d := range diags {
		if d.Summary == "Stage replaced by a named context" {
			warned = append(warned, fmt.Sprintf("%d: %s", d.Subject.Start.Line, d.Detail))
		}
	}
	wantWarned := []string{
		`1: --build-context files replaces the stage "files" with the directory /src/files, as in BuildKit: its base and its 2 instructions are not built. Rename the stage or the context to build the stage.`,
		`4: --build-context tools replaces the stage "tools" with the image docker.io/library/busybox:1.36, as in BuildKit: its base is not built. Rename the stage or the context to build the stage.`,
	}
	if diff := cmp.Diff(wantWarned, warned); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if len(cfg.Stages) != 3 {
		t.Fatalf("%d stages, want 3", len(cfg.Stages))
	}
	files, tools, last := cfg.Stages[0], cfg.Stages[1], cfg.Stages[2]
	wantRoot := []model.Step{&model.Copy{FileSpec: model.FileSpec{Src: []string{"."}, Dest: "/"}, Context: "/src/files", NamedContext: true}}
	if diff := cmp.Diff(wantRoot, files.Steps, ignoreRanges); diff != "" {
		t.Errorf("replaced stage files (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&model.Image{Ref: img}, tools.From.Base); diff != "" {
		t.Errorf("replaced stage tools base (-want +got):\n%s", diff)
	}
	if len(tools.Steps) != 0 {
		t.Errorf("replaced stage tools has steps %v", tools.Steps)
	}
	if diff := cmp.Diff(&model.Target{Name: "tools"}, last.From.Base); diff != "" {
		t.Errorf("FROM tools (-want +got):\n%s", diff)
	}
	want := []model.Step{&model.Copy{FileSpec: model.FileSpec{Src: []string{"/"}, Dest: "/files/"}, From: &model.Target{Name: "files"}}}
	if diff := cmp.Diff(want, last.Steps, ignoreRanges); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}
