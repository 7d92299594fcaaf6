package ir

import (
	"testing"

	"github.com/imgc-dev/imgc/imageref"
)

func TestMissReasonIn(t *testing.T) {
	p1, p2 := KeyOf([]byte("a")), KeyOf([]byte("b"))
	prev := layer(p1, nil, "command", "make")
	moved := layer(p2, nil, "command", "make")
	stage := Base{Kind: BaseTarget, Target: "common", Key: p2}
	image := ImageBase(imageref.MustParse("oci:/b:latest"))
	image.Key = p2
	tests := []struct {
		name     string
		base     Base
		kind     TargetKind
		cur      *Layer
		parent   bool
		expected string
	}{
		{"base stage rebuilt", stage, KindStage, moved, false, "base stage `common` rebuilt"},
		{"base image target rebuilt", Base{Kind: BaseTarget, Target: "app"}, KindImage, moved, false, "base image `app` rebuilt"},
		{"unknown kind", Base{Kind: BaseTarget, Target: "x"}, "", moved, false, "base target `x` rebuilt"},
		{"oci base", image, "", moved, false, "base image digest changed"},
		{"own input first, then the base", stage, KindStage, layer(p2, nil, "command", "make all"), false, "command changed; base stage `common` rebuilt"},
		{"own input alone", stage, KindStage, layer(p1, nil, "command", "make all"), false, "command changed"},
		{"own input, then the parent", stage, KindStage, layer(p2, nil, "command", "make all"), true, "command changed; parent layer rebuilt"},
		{"parent layer", stage, KindStage, moved, true, "parent layer rebuilt"},
	}
	for _, tt := range tests {
		// The plan: the target the base names (of tt.kind, none when
		// unknown) and the target whose layer misses.
		p := &Plan{}
		if tt.kind != "" {
			p.Targets = append(p.Targets, &Target{Name: tt.base.Target, Kind: tt.kind})
		}
		t1 := &Target{Name: "t", Kind: KindImage, Base: tt.base}
		p.Targets = append(p.Targets, t1)
		if got := MissReasonIn(p, t1, prev, tt.cur, tt.parent); got != tt.expected {
			t.Errorf("%s: MissReasonIn = %q, want %q", tt.name, got, tt.expected)
		}
	}
	if got, want := ForcedByNoCache(SourceRebuilt(KindStage, "build")), "source stage `build` rebuilt (cache = false)"; got != want {
		t.Errorf("ForcedByNoCache(SourceRebuilt) = %q, want %q", got, want)
	}
}

func TestMissReasonInNamesSources(t *testing.T) {
	p1 := KeyOf([]byte("a"))
	prev := layer(p1, nil, "source stage", "sha256:1")
	cur := layer(p1, nil, "source stage", "sha256:2")
	cur.Steps = []Step{&Copy{FromTarget: "build"}}
	merged := layer(p1, nil, "step 1: command", "make", "step 2: source stage", "sha256:2")
	merged.Steps = []Step{&Run{}, &Copy{FromTarget: "assets"}}
	mergedPrev := layer(p1, nil, "step 1: command", "make", "step 2: source stage", "sha256:1")
	p := &Plan{Targets: []*Target{{Name: "build", Kind: KindStage}, {Name: "assets", Kind: KindImage}, {Name: "app", Kind: KindImage}}}
	app := p.Targets[2]
	for _, tt := range []struct {
		name      string
		prev, cur *Layer
		want      string
	}{
		{"one copy", prev, cur, "source stage `build` rebuilt"},
		{"a merged layer's step", mergedPrev, merged, "step 2: source image `assets` rebuilt"},
		{"no steps kept", prev, layer(p1, nil, "source stage", "sha256:2"), "source stage rebuilt"},
	} {
		if got := MissReasonIn(p, app, tt.prev, tt.cur, false); got != tt.want {
			t.Errorf("%s: MissReasonIn = %q, want %q", tt.name, got, tt.want)
		}
	}
}
