package compiler

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/model"
)

func TestSSHMountDefaults(t *testing.T) {
	mode := uint32(0o666)
	run := &model.Run{Command: &model.Sh{Script: "ssh-add -l"}, Range: rng(3), Mounts: []model.Mount{
		{Type: "ssh", ID: "default"},
		{Type: "ssh", ID: "deploy", Target: "/agent", Required: true, Mode: &mode},
	}}
	cfg := &model.Config{Stages: []*model.Stage{{Kind: model.KindImage, Name: "app", From: model.From{Base: &model.Scratch{}}, Steps: []model.Step{run}}}}
	p := mustCompile(t, cfg, Options{})
	r := p.Targets[0].Layers[0].Steps[0].(*ir.Run)
	want := []ir.Mount{
		{Type: ir.MountSSH, ID: "default", Target: "/run/buildkit/ssh_agent.0"},
		{Type: ir.MountSSH, ID: "deploy", Target: "/agent", Required: true, Mode: &mode},
	}
	if diff := cmp.Diff(want, r.Mounts); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"SSH_AUTH_SOCK=/run/buildkit/ssh_agent.0"}, r.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	// A step that sets SSH_AUTH_SOCK keeps it.
	run.Env = []model.EnvVar{{Name: "SSH_AUTH_SOCK", Value: "/mine"}}
	p = mustCompile(t, cfg, Options{})
	r = p.Targets[0].Layers[0].Steps[0].(*ir.Run)
	if diff := cmp.Diff([]string{"SSH_AUTH_SOCK=/mine"}, r.Env); diff != "" {
		t.Errorf("env with SSH_AUTH_SOCK set (-want +got):\n%s", diff)
	}
}
