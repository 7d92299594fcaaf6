package compiler

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/lang/dockerfile"
	"github.com/imgc-dev/imgc/model"
)

// corpusDir holds the real-world Dockerfiles the figures are computed on.
// It is ../shared next to the repository, where CI puts it too.
var corpusDir = filepath.Join("..", "..", "shared", "corpus", "real")

// TestOptimizerFigures computes the figures BENCHMARKS.md quotes for the
// optimizer over the real Dockerfiles of the corpus and the examples, and
// prints them (go test -run TestOptimizerFigures -v ./compiler/). It
// fails when a metadata value turns out to reach a cache key after all.
//
// Per Dockerfile: the layers at --no-optimize, safe and all; the
// metadata instructions the metadata pass names (each one a LABEL, EXPOSE,
// CMD... before layer steps, which docker build's classic builder chains
// into every later layer's cache key); and every ARG re-imported with a
// changed value: an ARG that changes the image config but no layer key is
// an ARG-only value. The Dockerfiles come without their build contexts,
// so copies list no files; that changes no layer count.
func TestOptimizerFigures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*"))
	var dockerfiles []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".tsv") {
			dockerfiles = append(dockerfiles, f)
		}
	}
	if len(dockerfiles) == 0 {
		t.Skipf("skipping: no Dockerfiles in %s", corpusDir)
	}
	var (
		compiled, failed         int
		layers                   = map[string]int{}
		reordered, mergedFiles   int
		metaFiles, metaInstr     int
		metaInvalidated          int
		argFiles, metaOrArgFiles int
		argOnly                  int
		removedBy                = map[string]int{}
	)
	ctx := t.TempDir()
	for _, df := range dockerfiles {
		src, err := os.ReadFile(df)
		if err != nil {
			t.Fatal(err)
		}
		plans := map[string]*ir.Plan{}
		for _, level := range []string{LevelNone, LevelSafe, LevelAll} {
			plans[level] = importAndCompile(df, src, ctx, level, nil)
		}
		if plans[LevelNone] == nil || plans[LevelSafe] == nil || plans[LevelAll] == nil {
			failed++
			continue
		}
		compiled++
		for level, p := range plans {
			layers[level] += layerCount(p)
		}
		if layerCount(plans[LevelAll]) < layerCount(plans[LevelSafe]) {
			mergedFiles++
		}
		for _, o := range plans[LevelAll].Optimizations {
			var n int
			if _, err := fmt.Sscanf(o.Detail[strings.Index(o.Detail, ": merged ")+len(": merged "):], "%d", &n); o.Applied && err == nil {
				removedBy[o.Pass] += n - 1
			}
		}
		meta := 0
		for _, o := range plans[LevelSafe].Optimizations {
			if o.Pass == "metadata" {
				meta++
				var n int
				if _, err := fmt.Sscanf(o.Detail[strings.LastIndex(o.Detail, "invalidates ")+len("invalidates "):], "%d", &n); err != nil {
					t.Fatalf("%s: unreadable metadata record %q", df, o.Detail)
				}
				metaInvalidated += n
			}
			if o.Pass == "reorder" {
				reordered++
			}
		}
		if meta > 0 {
			metaFiles++
			metaInstr += meta
			checkConfigOutsideKeys(t, df, src, ctx, plans[LevelSafe])
		}
		args := argOnlyValues(df, src, ctx, plans[LevelSafe])
		argOnly += len(args)
		if len(args) > 0 {
			argFiles++
		}
		if meta > 0 || len(args) > 0 {
			metaOrArgFiles++
		}
	}
	t.Logf("real Dockerfiles: %d compiled, %d rejected by the importer by design (Windows images, git sources, bases that need a --var)", compiled, failed)
	t.Logf("layers: none %d, safe %d, all %d: --optimize=all removes %d layers in %d files", layers[LevelNone], layers[LevelSafe], layers[LevelAll], layers[LevelSafe]-layers[LevelAll], mergedFiles)
	t.Logf("removed by merging runs %d, by merging copies %d", removedBy["merge"], removedBy["mergecopy"])
	t.Logf("reorder would move %d steps (Dockerfile RUNs declare nothing, so this is expected to be 0)", reordered)
	t.Logf("metadata: %d files have %d LABEL/EXPOSE/CMD/... instructions before layer steps; docker build's classic builder re-runs %d layers in total when each changes, imgc none", metaFiles, metaInstr, metaInvalidated)
	t.Logf("ARG-only values: %d ARGs in %d files change the image config and no layer key", argOnly, argFiles)
	t.Logf("files where a LABEL/ARG-only value change no longer invalidates any layer: %d of %d", metaOrArgFiles, compiled)

	examples, _ := filepath.Glob("../examples/*")
	for _, ex := range examples {
		if fi, err := os.Stat(ex); err != nil || !fi.IsDir() {
			continue
		}
		counts := map[string]int{}
		for _, level := range []string{LevelNone, LevelSafe, LevelAll} {
			cfg, diags := lang.Load(ex, lang.Options{})
			if diags.HasErrors() {
				t.Fatalf("%s: %s", ex, diags.Error())
			}
			p, diags := Compile(cfg, Options{Optimize: level, Platform: amd64})
			if diags.HasErrors() {
				t.Fatalf("%s at %s: %s", ex, level, diags.Error())
			}
			counts[level] = layerCount(p)
		}
		t.Logf("example %s: layers none %d, safe %d, all %d", filepath.Base(ex), counts[LevelNone], counts[LevelSafe], counts[LevelAll])
	}
}

// importAndCompile imports a Dockerfile and compiles it; nil when the
// importer or the compiler reports an error other than a missing copy
// source (the corpus has no build contexts).
func importAndCompile(df string, src []byte, ctx, level string, buildArgs map[string]string) *ir.Plan {
	cfg, diags := dockerfile.Import(df, src, dockerfile.Options{Dir: ctx, Platform: "linux/amd64", BuildArgs: buildArgs})
	if cfg == nil || diags.HasErrors() {
		return nil
	}
	return compileCorpus(cfg, level)
}

func compileCorpus(cfg *model.Config, level string) *ir.Plan {
	p, diags := Compile(cfg, Options{Optimize: level, Platform: amd64})
	for _, d := range diags {
		if d.Severity == hcl.DiagError && d.Summary != "Copy source not found" && d.Summary != "Copy destination is not a directory" {
			return nil
		}
	}
	return p
}

func layerCount(p *ir.Plan) int {
	n := 0
	for _, t := range p.Targets {
		n += len(t.Layers)
	}
	return n
}

func layerKeys(p *ir.Plan) []string {
	var out []string
	for _, t := range p.Targets {
		for _, l := range t.Layers {
			out = append(out, t.Name+" "+l.Key.String())
		}
	}
	return out
}

// checkConfigOutsideKeys changes every label and the command of every
// stage and checks that no layer key moves.
func checkConfigOutsideKeys(t *testing.T, df string, src []byte, ctx string, want *ir.Plan) {
	t.Helper()
	cfg, _ := dockerfile.Import(df, src, dockerfile.Options{Dir: ctx, Platform: "linux/amd64"})
	for _, st := range cfg.Stages {
		if st.Config == nil {
			continue
		}
		labels := map[string]string{"imgc.figures": "changed"}
		for k, v := range st.Config.Labels {
			labels[k] = v + "-changed"
		}
		st.Config.Labels = labels
		st.Config.Cmd, st.Config.CmdSet = []string{"changed"}, true
		st.Config.Expose = append(st.Config.Expose, "9999/tcp")
	}
	got := compileCorpus(cfg, LevelSafe)
	if got == nil {
		t.Fatalf("%s: does not compile with changed labels", df)
	}
	if diff := cmp.Diff(layerKeys(want), layerKeys(got)); diff != "" {
		t.Errorf("%s: changing labels, cmd and expose changed layer keys:\n%s", df, diff)
	}
}

// argOnlyValues re-imports the Dockerfile with each declared ARG changed
// and returns those whose change reaches the image config but no layer
// key.
func argOnlyValues(df string, src []byte, ctx string, base *ir.Plan) []string {
	cfg, _ := dockerfile.Import(df, src, dockerfile.Options{Dir: ctx, Platform: "linux/amd64"})
	var names []string
	for name := range cfg.Vars {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []string
	for _, name := range names {
		p := importAndCompile(df, src, ctx, LevelSafe, map[string]string{name: cfg.Vars[name] + "-changed"})
		if p == nil || len(p.Targets) != len(base.Targets) {
			continue
		}
		if !cmp.Equal(layerKeys(base), layerKeys(p)) {
			continue
		}
		configChanged := false
		for i, t := range p.Targets {
			if !cmp.Equal(t.Config, base.Targets[i].Config) {
				configChanged = true
			}
		}
		if configChanged {
			out = append(out, name)
		}
	}
	return out
}
