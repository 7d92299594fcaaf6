package compiler

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/model"
)

// benchConfig is 1,000 steps in 5 chained stages: 800 runs and 200
// copies, each of one of 200 files in the context.
func benchConfig(b *testing.B) *model.Config {
	files := map[string]string{}
	for i := range 200 {
		files[fmt.Sprintf("src/pkg%02d/file%03d.go", i%20, i)] = fmt.Sprintf("package pkg%02d // %d\n", i%20, i)
	}
	dir := writeTree(b, files)
	past := time.Now().Add(-time.Hour)
	for p := range files {
		if err := os.Chtimes(filepath.Join(dir, p), past, past); err != nil {
			b.Fatal(err)
		}
	}
	cfg := &model.Config{Dir: dir, Vars: map[string]string{"version": "1"}}
	n := 0
	for s := range 5 {
		st := &model.Stage{Kind: model.KindStage, Name: fmt.Sprintf("s%d", s), Workdir: "/src",
			Env: []model.EnvVar{{Name: "GOFLAGS", Value: "-trimpath"}}, DeclRange: rng(s * 1000)}
		if s == 0 {
			st.From = model.From{Base: &model.Image{Ref: imageref.MustParse("docker.io/library/golang:1.23")}}
		} else {
			st.From = model.From{Base: &model.Target{Name: fmt.Sprintf("s%d", s-1)}}
		}
		if s == 4 {
			st.Kind = model.KindImage
		}
		for i := range 200 {
			if i%5 == 0 {
				st.Steps = append(st.Steps, &model.Copy{FileSpec: model.FileSpec{Src: []string{fmt.Sprintf("src/pkg%02d/file%03d.go", n%20, n)}, Dest: "./"}, Range: rng(s*1000 + i)})
				n++
				continue
			}
			st.Steps = append(st.Steps, &model.Run{
				Command: &model.Sh{Script: fmt.Sprintf("go build ./step%d", i)},
				Env:     []model.EnvVar{{Name: "STEP", Value: fmt.Sprint(i)}},
				Mounts:  []model.Mount{{Type: "cache", Target: "/root/.cache/go-build"}},
				Vars:    []string{"version"},
				Range:   rng(s*1000 + i),
			})
		}
		cfg.Stages = append(cfg.Stages, st)
	}
	return cfg
}

// BenchmarkCompile is `imgc plan`'s compile of benchConfig with a warm
// hash cache, as on every plan after the first.
func BenchmarkCompile(b *testing.B) {
	checkPasses = false
	defer func() { checkPasses = true }()
	cfg := benchConfig(b)
	opts := Options{Platform: amd64, HashCache: filepath.Join(b.TempDir(), "hashes")}
	if _, diags := Compile(cfg, opts); diags.HasErrors() {
		b.Fatal(diags)
	}
	b.ResetTimer()
	for b.Loop() {
		p, diags := Compile(cfg, opts)
		if diags.HasErrors() || len(p.Targets) != 5 {
			b.Fatal(diags)
		}
	}
}

// BenchmarkCompileCold hashes every file again (no persistent cache).
func BenchmarkCompileCold(b *testing.B) {
	checkPasses = false
	defer func() { checkPasses = true }()
	cfg := benchConfig(b)
	opts := Options{Platform: amd64}
	for b.Loop() {
		if _, diags := Compile(cfg, opts); diags.HasErrors() {
			b.Fatal(diags)
		}
	}
}

// BenchmarkCompileLargeTree re-plans `copy { src = "." }` of a 20,000-file
// context with a warm hash cache: no file content is read.
func BenchmarkCompileLargeTree(b *testing.B) {
	checkPasses = false
	defer func() { checkPasses = true }()
	dir := b.TempDir()
	past := time.Now().Add(-time.Hour)
	for i := range 20000 {
		d := filepath.Join(dir, fmt.Sprintf("d%03d", i%200))
		if i < 200 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		p := filepath.Join(d, fmt.Sprintf("f%05d", i))
		if err := os.WriteFile(p, []byte(fmt.Sprint(i)), 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.Chtimes(p, past, past); err != nil {
			b.Fatal(err)
		}
	}
	cfg := &model.Config{Dir: dir, Stages: []*model.Stage{{Kind: model.KindImage, Name: "x", From: model.From{Base: &model.Scratch{}},
		Steps: []model.Step{&model.Copy{FileSpec: model.FileSpec{Src: []string{"."}, Dest: "/src/"}}}}}}
	opts := Options{Platform: amd64, HashCache: filepath.Join(b.TempDir(), "hashes")}
	if _, diags := Compile(cfg, opts); diags.HasErrors() {
		b.Fatal(diags)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, diags := Compile(cfg, opts); diags.HasErrors() {
			b.Fatal(diags)
		}
	}
}

// BenchmarkPrintPlan prints the compiled benchConfig as `imgc plan` does,
// in each format, with every layer a miss.
func BenchmarkPrintPlan(b *testing.B) {
	checkPasses = false
	defer func() { checkPasses = true }()
	p, diags := Compile(benchConfig(b), Options{Platform: amd64})
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	b.Run("text", func(b *testing.B) {
		for b.Loop() {
			ir.PrintText(io.Discard, p, nil, false)
		}
	})
	b.Run("json", func(b *testing.B) {
		for b.Loop() {
			if err := ir.PrintJSON(io.Discard, p, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
