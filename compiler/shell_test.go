package compiler

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/model"
)

// A stage built on another runs its sh steps with that stage's shell, as
// Docker's SHELL is part of the image config, down to a grandchild.
func TestStageInheritsShell(t *testing.T) {
	shell := []string{"/bin/sh", "-ec"}
	run := func(line int) []model.Step {
		return []model.Step{&model.Run{Command: &model.Sh{Script: "true"}, Range: rng(line)}}
	}
	cfg := &model.Config{Dir: t.TempDir(), Stages: []*model.Stage{
		{Kind: model.KindStage, Name: "parent", From: model.From{Base: &model.Scratch{}}, Shell: shell, Steps: run(1), DeclRange: rng(1)},
		{Kind: model.KindStage, Name: "child", From: model.From{Base: &model.Target{Name: "parent"}}, Steps: run(2), DeclRange: rng(2)},
		{Kind: model.KindImage, Name: "grandchild", From: model.From{Base: &model.Target{Name: "child"}}, Steps: run(3), DeclRange: rng(3)},
	}}
	p := mustCompile(t, cfg, Options{Optimize: "none"})
	if len(p.Targets) != 3 {
		t.Fatalf("got %d targets, want 3", len(p.Targets))
	}
	for _, tg := range p.Targets {
		r := tg.Layers[0].Steps[0].(*ir.Run)
		if diff := cmp.Diff(append(append([]string(nil), shell...), "true"), r.Argv); diff != "" {
			t.Errorf("%s: argv (-want +got):\n%s", tg.Name, diff)
		}
	}
}
