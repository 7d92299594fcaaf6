package compiler

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/model"
)

func TestPassOrder(t *testing.T) {
	index := map[string]int{}
	for i, p := range passes {
		if _, dup := index[p.name]; dup {
			t.Errorf("pass %q appears twice", p.name)
		}
		index[p.name] = i
		if p.required != (p.level == "required") {
			t.Errorf("pass %q: required %v but level %q", p.name, p.required, p.level)
		}
		if !p.required && p.level != LevelSafe && p.level != LevelAll {
			t.Errorf("pass %q: level %q is not safe or all", p.name, p.level)
		}
	}
	for _, c := range passOrder {
		a, okA := index[c[0]]
		b, okB := index[c[1]]
		switch {
		case !okA || !okB:
			t.Errorf("constraint %q names an unknown pass", c)
		case a >= b:
			t.Errorf("pass %q must run before %q", c[0], c[1])
		}
	}
}

// TestEveryPassHasItsOwnFile checks the table's convention: pass X lives in
// pass_X.go with a doc comment saying why it is safe.
func TestEveryPassHasItsOwnFile(t *testing.T) {
	for _, p := range passes {
		b, err := os.ReadFile("pass_" + p.name + ".go")
		if err != nil {
			t.Errorf("pass %q: %v", p.name, err)
			continue
		}
		if !strings.Contains(string(b), "safe") {
			t.Errorf("pass_%s.go: the doc comment does not say why the pass is safe", p.name)
		}
	}
}

func smallConfig(t *testing.T) *model.Config {
	return &model.Config{Dir: t.TempDir(), Stages: []*model.Stage{
		{Kind: model.KindStage, Name: "a", From: model.From{Base: &model.Image{Ref: imageref.MustParse("alpine")}}, Steps: []model.Step{&model.Run{Command: &model.Sh{Script: "echo a > /a"}}}, DeclRange: rng(1)},
		{Kind: model.KindStage, Name: "b", From: model.From{Base: &model.Image{Ref: imageref.MustParse("alpine")}}, Steps: []model.Step{&model.Run{Command: &model.Sh{Script: "echo a > /a"}}}, DeclRange: rng(5)},
		{Kind: model.KindImage, Name: "app", From: model.From{Base: &model.Scratch{}}, DeclRange: rng(9), Steps: []model.Step{
			&model.Copy{FileSpec: model.FileSpec{Src: []string{"/a"}, Dest: "/a"}, From: &model.Target{Name: "a"}},
			&model.Copy{FileSpec: model.FileSpec{Src: []string{"/a"}, Dest: "/b"}, From: &model.Target{Name: "b"}},
		}},
	}}
}

func TestDedupe(t *testing.T) {
	p := mustCompile(t, smallConfig(t), Options{})
	if p.Target("b") != nil {
		t.Fatalf("stage b, identical to a, is still in the plan")
	}
	app := p.Target("app")
	if got := app.Layers[1].Steps[0].(*ir.Copy).FromTarget; got != "a" {
		t.Errorf("copy from b now reads from %q, want a", got)
	}
	if diff := cmp.Diff([]string{"a"}, app.DependsOn); diff != "" {
		t.Errorf("DependsOn (-want +got):\n%s", diff)
	}
	want := []ir.Optimization{{Pass: "dedupe", Detail: "stage `b` is identical to stage `a`: built once", Origins: []ir.Origin{ir.OriginOf(rng(5)), ir.OriginOf(rng(1))}, Applied: true}}
	if diff := cmp.Diff(want, recordsOf(p, "dedupe")); diff != "" {
		t.Errorf("optimizations (-want +got):\n%s", diff)
	}

	for _, opts := range []Options{{Optimize: LevelNone}, {DisabledPasses: []string{"dedupe"}}} {
		p := mustCompile(t, smallConfig(t), opts)
		if p.Target("b") == nil || len(recordsOf(p, "dedupe")) != 0 {
			t.Errorf("with %+v dedupe still ran: %+v", opts, p.Optimizations)
		}
		if p.Target("app").Key() != app.Key() {
			t.Errorf("with %+v the image key differs from the deduped plan's", opts)
		}
	}
}

func TestPassFlagDiagnostics(t *testing.T) {
	tests := []struct {
		disable, summary, detail string
	}{
		{"prune", "Required pass cannot be disabled", `The pass "prune" is required`},
		{"keys", "Required pass cannot be disabled", `The pass "keys" is required`},
		{"dedup", "Unknown pass", `Did you mean "dedupe"?`},
	}
	for _, tt := range tests {
		_, diags := Compile(smallConfig(t), Options{DisabledPasses: []string{tt.disable}})
		if len(diags) != 1 || diags[0].Summary != tt.summary || !strings.Contains(diags[0].Detail, tt.detail) {
			t.Errorf("--pass %s=off: diagnostics %v, want %q with %q", tt.disable, diags, tt.summary, tt.detail)
		}
	}
	_, diags := Compile(smallConfig(t), Options{Optimize: "fast"})
	if len(diags) != 1 || diags[0].Summary != "Unknown optimization level" {
		t.Errorf("--optimize=fast: %v", diags)
	}
}

func TestDriverNamesThePassOfAnInternalError(t *testing.T) {
	s, diags := newState(smallConfig(t), Options{Platform: amd64})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	plan := lower(s)
	table := append(append([]pass(nil), passes...), pass{name: "broken", level: LevelSafe, fn: func(*state, *ir.Plan) *ir.Plan {
		panic("broken pass")
	}})
	s.runPasses(plan, table)
	if len(s.diags) != 1 || s.diags[0].Summary != "Internal compiler error" || !strings.Contains(s.diags[0].Detail, "internal error in pass broken: broken pass") {
		t.Fatalf("diagnostics = %v", s.diags)
	}
}

func TestDriverChecksBetweenPasses(t *testing.T) {
	s, _ := newState(smallConfig(t), Options{Platform: amd64})
	plan := lower(s)
	table := append(append([]pass(nil), passes...), pass{name: "shuffle", level: LevelSafe, fn: func(_ *state, p *ir.Plan) *ir.Plan {
		out := *p
		out.Targets = []*ir.Target{p.Targets[len(p.Targets)-1]}
		out.Targets = append(out.Targets, p.Targets[:len(p.Targets)-1]...)
		return &out
	}})
	s.runPasses(plan, table)
	if len(s.diags) != 1 || !strings.Contains(s.diags[0].Detail, "internal error in pass shuffle: the plan it returned is invalid") {
		t.Fatalf("diagnostics = %v", s.diags)
	}
}

func TestPruneAndTargets(t *testing.T) {
	cfg := smallConfig(t)
	p := mustCompile(t, cfg, Options{Targets: []string{"b"}})
	var names []string
	for _, tg := range p.Targets {
		names = append(names, tg.Name)
	}
	if diff := cmp.Diff([]string{"b"}, names); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	if !p.Targets[0].Output {
		t.Errorf("a stage named by --target is not an output")
	}
	var details []string
	for _, o := range p.Optimizations {
		details = append(details, o.Detail)
	}
	want := []string{"stage `a` is never used: not built", "image `app` is not a selected target: not built"}
	if diff := cmp.Diff(want, details); diff != "" {
		t.Errorf("prune records (-want +got):\n%s", diff)
	}
}

func TestCompileErrors(t *testing.T) {
	dir := writeTree(t, map[string]string{"a.txt": "a", "b.txt": "b", ".dockerignore": "secret.txt\n", "secret.txt": "s"})
	stage := func(steps ...model.Step) *model.Config {
		return &model.Config{Dir: dir, Stages: []*model.Stage{{Kind: model.KindImage, Name: "app", From: model.From{Base: &model.Scratch{}}, Steps: steps, DeclRange: rng(1)}}}
	}
	tests := []struct {
		name    string
		cfg     *model.Config
		opts    Options
		summary string
		line    int
	}{
		{"missing source", stage(&model.Copy{FileSpec: model.FileSpec{Src: []string{"nope/"}, Dest: "/x/"}, Range: rng(7)}), Options{}, "Copy source not found", 7},
		{"ignored source", stage(&model.Copy{FileSpec: model.FileSpec{Src: []string{"secret.txt"}, Dest: "/x"}, Range: rng(8)}), Options{}, "Copy source excluded", 8},
		{"several sources to a file", stage(&model.Copy{FileSpec: model.FileSpec{Src: []string{"*.txt"}, Dest: "/x"}, Range: rng(9)}), Options{}, "Copy destination is not a directory", 9},
		{"unknown target", stage(), Options{Targets: []string{"apq"}}, "Unknown target", 0},
		{"invalid chmod", stage(&model.Copy{FileSpec: model.FileSpec{Src: []string{"a.txt"}, Dest: "/x", Chmod: "u=rwq"}, Range: rng(10)}), Options{}, "Invalid chmod", 10},
		{"chmod over 7777", stage(&model.Add{FileSpec: model.FileSpec{Src: []string{"a.txt"}, Dest: "/x", Chmod: "17777"}, Range: rng(11)}), Options{}, "Invalid chmod", 11},
		{"no image", &model.Config{Dir: dir, Stages: []*model.Stage{{Kind: model.KindStage, Name: "x", From: model.From{Base: &model.Scratch{}}, DeclRange: rng(6)}}}, Options{}, "No image to build", 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Platform = amd64
			_, diags := Compile(tt.cfg, tt.opts)
			if !diags.HasErrors() {
				t.Fatalf("no error")
			}
			d := diags[0]
			if d.Summary != tt.summary {
				t.Fatalf("summary %q, want %q (detail: %s)", d.Summary, tt.summary, d.Detail)
			}
			if strings.HasSuffix(d.Summary, ".") || !strings.HasSuffix(d.Detail, ".") && !strings.HasSuffix(d.Detail, "?") {
				t.Errorf("diagnostic style: summary %q detail %q", d.Summary, d.Detail)
			}
			if tt.line > 0 && (d.Subject == nil || d.Subject.Start.Line != tt.line) {
				t.Errorf("subject %v, want line %d", d.Subject, tt.line)
			}
		})
	}
}

// TestBrokenModelIsInternal: a configuration that breaks a rule of the
// model (which model.Check reports for the front ends) is a bug when it
// reaches the compiler, reported as an internal error naming where.
func TestBrokenModelIsInternal(t *testing.T) {
	dir := t.TempDir()
	tests := map[string]*model.Config{
		"undeclared stage": {Dir: dir, Stages: []*model.Stage{{Kind: model.KindImage, Name: "x", From: model.From{Base: &model.Target{Name: "bulid"}}}}},
		"cycle": {Dir: dir, Stages: []*model.Stage{
			{Kind: model.KindStage, Name: "a", From: model.From{Base: &model.Target{Name: "b"}}},
			{Kind: model.KindImage, Name: "b", From: model.From{Base: &model.Target{Name: "a"}}},
		}},
		"no base":     {Dir: dir, Stages: []*model.Stage{{Kind: model.KindImage, Name: "x"}}},
		"bad network": {Dir: dir, Stages: []*model.Stage{{Kind: model.KindImage, Name: "x", From: model.From{Base: &model.Scratch{}}, Steps: []model.Step{&model.Run{Command: &model.Sh{Script: "x"}, Network: "bridge"}}}}},
		"no command":  {Dir: dir, Stages: []*model.Stage{{Kind: model.KindImage, Name: "x", From: model.From{Base: &model.Scratch{}}, Steps: []model.Step{&model.Run{}}}}},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.HasPrefix(fmt.Sprint(r), "compiler: lower: ") {
					t.Errorf("recovered %v, want a panic naming compiler: lower", r)
				}
			}()
			Compile(cfg, Options{Platform: amd64})
		})
	}
}

func TestProjectAndContext(t *testing.T) {
	ctx := writeTree(t, map[string]string{"f": "x"})
	cfg := &model.Config{Dir: t.TempDir(), Stages: []*model.Stage{{Kind: model.KindImage, Name: "x", From: model.From{Base: &model.Scratch{}},
		Steps: []model.Step{&model.Copy{FileSpec: model.FileSpec{Src: []string{"f"}, Dest: "/f"}}}}}}
	p := mustCompile(t, cfg, Options{Context: ctx})
	if p.Project != cfg.Dir {
		t.Errorf("Project = %q, want %q", p.Project, cfg.Dir)
	}
	c := p.Targets[0].Layers[0].Steps[0].(*ir.Copy)
	if c.Context != ctx || len(c.Files) != 1 {
		t.Errorf("copy resolved in %q with %v, want the --context %q", c.Context, c.Files, ctx)
	}
	file := filepath.Join(cfg.Dir, "x.image.hcl")
	if p := mustCompile(t, cfg, Options{Context: ctx, Project: file}); p.Project != file {
		t.Errorf("Project = %q, want %q", p.Project, file)
	}
}

func TestMergeKeepsPerStepKeys(t *testing.T) {
	cfg := func() *model.Config {
		return &model.Config{Dir: t.TempDir(), Stages: []*model.Stage{{Kind: model.KindImage, Name: "x", From: model.From{Base: &model.Image{Ref: imageref.MustParse("alpine")}}, Steps: []model.Step{
			&model.Run{Command: &model.Sh{Script: "a"}, Range: rng(1)}, &model.Run{Command: &model.Sh{Script: "b"}, Range: rng(2)}, &model.Run{Command: &model.Sh{Script: "c"}, Range: rng(3)},
		}}}}
	}
	safe := mustCompile(t, cfg(), Options{})
	all := mustCompile(t, cfg(), Options{Optimize: LevelAll})
	if n := len(safe.Targets[0].Layers); n != 3 {
		t.Fatalf("safe: %d layers, want 3", n)
	}
	if len(safe.Optimizations) != 1 || safe.Optimizations[0].Applied {
		t.Errorf("safe does not preview the merge: %+v", safe.Optimizations)
	}
	layers := all.Targets[0].Layers
	if len(layers) != 1 || len(layers[0].Steps) != 3 {
		t.Fatalf("all: %d layers, want 1 with 3 steps", len(layers))
	}
	for i, l := range safe.Targets[0].Layers {
		if layers[0].Merged[i] != l.Key {
			t.Errorf("merged step %d keeps key %s, unmerged it has %s", i+1, layers[0].Merged[i].Short(), l.Key.Short())
		}
	}
	if layers[0].Key == safe.Targets[0].Key() {
		t.Errorf("the merged layer shares its key with the unmerged last layer, though their contents differ")
	}
	if none := mustCompile(t, cfg(), Options{Optimize: LevelNone}); len(none.Optimizations) != 0 {
		t.Errorf("--no-optimize previews passes: %+v", none.Optimizations)
	}
}

// recordsOf returns what one pass recorded in p.
func recordsOf(p *ir.Plan, pass string) []ir.Optimization {
	var out []ir.Optimization
	for _, o := range p.Optimizations {
		if o.Pass == pass {
			out = append(out, o)
		}
	}
	return out
}

// TestStageOptimizeLevel: `optimize = "all"` applies to its own target
// only, the others still preview; --optimize wins over it.
func TestStageOptimizeLevel(t *testing.T) {
	cfg := func() *model.Config {
		runs := func(line int) []model.Step {
			return []model.Step{&model.Run{Command: &model.Sh{Script: "a"}, Range: rng(line)}, &model.Run{Command: &model.Sh{Script: "b"}, Range: rng(line + 1)}}
		}
		return &model.Config{Dir: t.TempDir(), Stages: []*model.Stage{
			{Kind: model.KindImage, Name: "fast", Optimize: LevelAll, From: model.From{Base: &model.Image{Ref: imageref.MustParse("alpine")}}, Steps: runs(1), DeclRange: rng(1)},
			{Kind: model.KindImage, Name: "plain", From: model.From{Base: &model.Image{Ref: imageref.MustParse("alpine")}}, Steps: runs(10), DeclRange: rng(10)},
		}}
	}
	layersOf := func(p *ir.Plan) (fast, plain int) {
		return len(p.Target("fast").Layers), len(p.Target("plain").Layers)
	}
	p := mustCompile(t, cfg(), Options{})
	if fast, plain := layersOf(p); fast != 1 || plain != 2 {
		t.Errorf("stage levels: fast has %d layers (want 1, merged), plain %d (want 2)", fast, plain)
	}
	var applied, previewed int
	for _, o := range recordsOf(p, "merge") {
		if o.Applied {
			applied++
		} else {
			previewed++
		}
	}
	if applied != 1 || previewed != 1 {
		t.Errorf("merge records: %d applied, %d previewed; want one of each: %+v", applied, previewed, p.Optimizations)
	}
	if fast, plain := layersOf(mustCompile(t, cfg(), Options{Optimize: LevelSafe})); fast != 2 || plain != 2 {
		t.Errorf("--optimize=safe does not win over optimize = \"all\": %d and %d layers", fast, plain)
	}
	if fast, plain := layersOf(mustCompile(t, cfg(), Options{Optimize: LevelAll})); fast != 1 || plain != 1 {
		t.Errorf("--optimize=all: %d and %d layers, want 1 and 1", fast, plain)
	}
	if fast, _ := layersOf(mustCompile(t, cfg(), Options{DisabledPasses: []string{"merge"}})); fast != 2 {
		t.Errorf("--pass merge=off still merges the stage at all")
	}
}
