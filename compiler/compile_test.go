package compiler

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/model"
)

// goApp is a two-stage Go build with an unused test stage.
func goApp(dir string) *model.Config {
	return &model.Config{
		Dir:  dir,
		Vars: map[string]string{"version": "1.2.3"},
		Stages: []*model.Stage{
			{
				Kind: model.KindStage, Name: "build", From: model.From{Base: &model.Image{Ref: imageref.MustParse("golang:1.22")}, Range: rng(2)},
				Env: []model.EnvVar{{Name: "CGO_ENABLED", Value: "0"}}, Workdir: "/src",
				Steps: []model.Step{
					&model.Copy{FileSpec: model.FileSpec{Src: []string{"go.mod", "go.sum"}, Dest: "./"}, Range: rng(4)},
					&model.Run{Command: &model.Sh{Script: "go mod download"}, Mounts: []model.Mount{{Type: "cache", Target: "/root/go/pkg/mod", Range: rng(6)}}, Range: rng(5)},
					&model.Copy{FileSpec: model.FileSpec{Src: []string{"."}, Dest: "."}, Range: rng(8)},
					&model.Run{Command: &model.Sh{Script: "go build -ldflags=-X=main.version=1.2.3 -o /out/app ."}, Env: []model.EnvVar{{Name: "CGO_ENABLED", Value: "1"}, {Name: "GOOS", Value: "linux"}}, Vars: []string{"version"}, Range: rng(9)},
				},
				DeclRange: rng(1),
			},
			{
				Kind: model.KindStage, Name: "test", From: model.From{Base: &model.Target{Name: "build"}, Range: rng(12)},
				Steps:     []model.Step{&model.Run{Command: &model.Sh{Script: "go test ./..."}, Range: rng(13)}},
				DeclRange: rng(11),
			},
			{
				Kind: model.KindImage, Name: "app", From: model.From{Base: &model.Scratch{}, Range: rng(16)},
				Tags: []string{"example.com/app:1.2.3"},
				Steps: []model.Step{
					&model.Copy{FileSpec: model.FileSpec{Src: []string{"/out/app"}, Dest: "/app"}, From: &model.Target{Name: "build"}, Range: rng(17)},
					&model.Layer{Name: "etc", Range: rng(18), Steps: []model.Step{
						&model.Copy{FileSpec: model.FileSpec{Src: []string{"etc/"}, Dest: "/etc/app/"}, Range: rng(19)},
						&model.Copy{FileSpec: model.FileSpec{Src: []string{"README.md"}, Dest: "/usr/share/doc/app/"}, Range: rng(20)},
					}},
				},
				Config:    &model.ImageConfig{Entrypoint: []string{"/app"}, EntrypointSet: true, Labels: map[string]string{"version": "1.2.3"}},
				DeclRange: rng(15),
			},
		},
	}
}

func goAppTree(t testing.TB) string {
	return writeTree(t, map[string]string{
		"go.mod": "module x\n", "go.sum": "", "main.go": "package main\n", "etc/app.conf": "a=1\n",
		"README.md": "# app\n", ".dockerignore": "*.log\n", "debug.log": "noise\n",
	})
}

func TestCompileLowering(t *testing.T) {
	dir := goAppTree(t)
	p := mustCompile(t, goApp(dir), Options{})

	var names []string
	for _, tg := range p.Targets {
		names = append(names, tg.Name)
	}
	if diff := cmp.Diff([]string{"build", "app"}, names); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	build, app := p.Target("build"), p.Target("app")
	if build.Output || !app.Output {
		t.Errorf("Output: build %v app %v, want false true", build.Output, app.Output)
	}
	if diff := cmp.Diff(ir.Base{Kind: ir.BaseRegistry, Ref: imageref.MustParse("golang:1.22"), Key: ir.TagBaseKey("docker.io/library/golang:1.22", amd64), Origin: ir.OriginOf(rng(2))}, build.Base, cmpKeys); diff != "" {
		t.Errorf("build base (-want +got):\n%s", diff)
	}
	run := build.Layers[3].Steps[0].(*ir.Run)
	want := &ir.Run{
		Argv:    []string{"/bin/sh", "-c", "go build -ldflags=-X=main.version=1.2.3 -o /out/app ."},
		Shell:   true,
		Command: "go build -ldflags=-X=main.version=1.2.3 -o /out/app .",
		Env:     []string{"CGO_ENABLED=1", "GOOS=linux"},
		Workdir: "/src",
		Network: ir.NetworkDefault,
		Origin:  ir.OriginOf(rng(9)),
	}
	if diff := cmp.Diff(want, run); diff != "" {
		t.Errorf("run step (-want +got):\n%s", diff)
	}
	if got := build.Layers[3].Vars; !cmp.Equal(got, map[string]string{"version": "1.2.3"}) {
		t.Errorf("Vars = %v", got)
	}
	mount := build.Layers[1].Steps[0].(*ir.Run).Mounts[0]
	if diff := cmp.Diff(ir.Mount{Type: ir.MountCache, Target: "/root/go/pkg/mod", ID: "/root/go/pkg/mod", Sharing: "shared"}, mount); diff != "" {
		t.Errorf("mount (-want +got):\n%s", diff)
	}
	cp := build.Layers[2].Steps[0].(*ir.Copy)
	var srcs []string
	for _, f := range cp.Files {
		srcs = append(srcs, f.Src+">"+f.Dst)
		if f.Mode.IsRegular() && !strings.HasPrefix(f.Digest, "sha256:") {
			t.Errorf("file %s has no digest", f.Src)
		}
	}
	wantSrcs := []string{".>/src", ".dockerignore>/src/.dockerignore", "README.md>/src/README.md", "etc>/src/etc", "etc/app.conf>/src/etc/app.conf", "go.mod>/src/go.mod", "go.sum>/src/go.sum", "main.go>/src/main.go"}
	if diff := cmp.Diff(wantSrcs, srcs); diff != "" {
		t.Errorf("copy . files (-want +got):\n%s", diff)
	}
	if cp.Dest != "/src/" || build.Layers[0].Steps[0].(*ir.Copy).Dest != "/src/" {
		t.Errorf("relative dests not joined onto the workdir: %q", cp.Dest)
	}
	if got := app.Layers[1]; got.Name != "etc" || len(got.Steps) != 2 || got.CreatedBy != "COPY etc/ /etc/app/; COPY README.md /usr/share/doc/app/" {
		t.Errorf("layer block lowered to %+v", got)
	}
	if got := app.Layers[0].CreatedBy; got != "COPY --from=build /out/app /app" {
		t.Errorf("CreatedBy = %q", got)
	}
	if diff := cmp.Diff([]string{"build"}, app.DependsOn); diff != "" {
		t.Errorf("DependsOn (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(ir.ImageConfig{Entrypoint: []string{"/app"}, EntrypointSet: true, Labels: map[string]string{"version": "1.2.3"}}, app.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	wantOpt := []ir.Optimization{{Pass: "prune", Detail: "stage `test` is never used: not built", Origins: []ir.Origin{ir.OriginOf(rng(11))}, Applied: true}}
	if diff := cmp.Diff(wantOpt, p.Optimizations); diff != "" {
		t.Errorf("optimizations (-want +got):\n%s", diff)
	}
	if err := ir.Check(p, true); err != nil {
		t.Error(err)
	}
	var text, js bytes.Buffer
	ir.PrintText(&text, p, nil, false)
	if err := ir.PrintJSON(&js, p, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s\n%s", text.String(), js.String())
}
