package model

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/imageref"
)

func rng(line int) hcl.Range {
	return hcl.Range{Filename: "test.image.hcl", Start: hcl.Pos{Line: line, Column: 1, Byte: line * 100}, End: hcl.Pos{Line: line, Column: 10, Byte: line*100 + 9}}
}

func sh(script string) *Sh { return &Sh{Script: script} }

// image is a stage called name on scratch with steps.
func image(name string, steps ...Step) *Stage {
	return &Stage{Kind: KindImage, Name: name, From: From{Base: &Scratch{}, Range: rng(1)}, Steps: steps, DeclRange: rng(1)}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		cfg     *Config
		summary string
		line    int
		detail  string // a part of the detail
	}{
		{"no base", &Config{Stages: []*Stage{{Kind: KindImage, Name: "x", DeclRange: rng(2)}}}, "Missing base", 2, `"x" has no`},
		{"empty reference", &Config{Stages: []*Stage{{Kind: KindImage, Name: "x", From: From{Base: &Image{}, Range: rng(2)}}}}, "Invalid image reference", 2, "empty"},
		{"platform", &Config{Stages: []*Stage{{Kind: KindImage, Name: "x", From: From{Base: &Scratch{}}, Platform: "linux/amd65", PlatformRange: rng(3)}}}, "Invalid platform", 3, `Did you mean "amd64"?`},
		{"network", &Config{Stages: []*Stage{image("x", &Run{Command: sh("x"), Network: "bridg", NetworkRange: rng(4), Range: rng(4)})}}, "Invalid network mode", 4, `Use one of "default", "none", "host".`},
		{"no command", &Config{Stages: []*Stage{image("x", &Run{Range: rng(5)})}}, "Missing command", 5, "needs a command"},
		{"empty sh", &Config{Stages: []*Stage{image("x", &Run{Command: sh(" "), CommandRange: rng(6)})}}, "Empty command", 6, "sh command is empty"},
		{"empty exec", &Config{Stages: []*Stage{image("x", &Run{Command: &Exec{}, Range: rng(7)})}}, "Empty command", 7, "exec vector is empty"},
		{"mount type", &Config{Stages: []*Stage{image("x", &Run{Command: sh("x"), Mounts: []Mount{{Type: "volum", Target: "/v", TypeRange: rng(8)}}})}}, "Unsupported mount type", 8, "Use one of bind"},
		{"mount target", &Config{Stages: []*Stage{image("x", &Run{Command: sh("x"), Mounts: []Mount{{Type: "cache", DeclRange: rng(9)}}})}}, "Missing mount target", 9, "cache mount"},
		{"copy source", &Config{Stages: []*Stage{image("x", &Copy{FileSpec: FileSpec{Dest: "/x"}, Range: rng(10)})}}, "Copy without source", 10, "at least one source"},
		{"add both", &Config{Stages: []*Stage{image("x", &Add{FileSpec: FileSpec{Src: []string{"a"}, Dest: "/x"}, URL: "https://x", Range: rng(11)})}}, "Conflicting add sources", 11, "one add step for each"},
		{"add neither", &Config{Stages: []*Stage{image("x", &Add{FileSpec: FileSpec{Dest: "/x"}, Range: rng(12)})}}, "Missing add source", 12, "needs src"},
		{"nested layer", &Config{Stages: []*Stage{image("x", &Layer{Name: "a", Steps: []Step{&Layer{Name: "b", Range: rng(13)}}})}}, "Nested layer block", 13, "do not nest"},
		{"undeclared stage", &Config{Stages: []*Stage{{Kind: KindImage, Name: "x", From: From{Base: &Target{Name: "bulid"}, Range: rng(14)}}, image("build")}}, "Reference to undeclared stage", 14, `Did you mean "build"?`},
		{"cycle", &Config{Stages: []*Stage{
			{Kind: KindStage, Name: "a", From: From{Base: &Target{Name: "b"}, Range: rng(15)}},
			{Kind: KindImage, Name: "b", From: From{Base: &Target{Name: "a"}, Range: rng(16)}},
		}}, "Cycle between stages", 15, "stage.a refers to image.b (at test.image.hcl:15), which refers to stage.a (at test.image.hcl:16)."},
		{"cycle through a copy", &Config{Stages: []*Stage{image("a", &Copy{FileSpec: FileSpec{Src: []string{"/x"}, Dest: "/x"}, From: &Target{Name: "a"}, FromRange: rng(17)})}}, "Cycle between stages", 17, "image.a refers to image.a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diags := Check(tt.cfg)
			if len(diags) != 1 {
				t.Fatalf("got %d diagnostics, want one %q: %v", len(diags), tt.summary, diags)
			}
			d := diags[0]
			if d.Summary != tt.summary || !strings.Contains(d.Detail, tt.detail) {
				t.Errorf("got %q: %s\nwant %q with %q", d.Summary, d.Detail, tt.summary, tt.detail)
			}
			if d.Subject == nil || d.Subject.Start.Line != tt.line {
				t.Errorf("subject %v, want line %d", d.Subject, tt.line)
			}
			if again := Check(tt.cfg); len(again) > 0 {
				t.Errorf("Check left what it reported: %v", again)
			}
		})
	}
}

// TestCheckStepReportsOnlyValues: CheckStep, which a front end calls on a
// step it may leave out, never reports what a step lacks.
func TestCheckStepReportsOnlyValues(t *testing.T) {
	if d := CheckStep(&Run{Mounts: []Mount{{Type: "cache"}}}); len(d) > 0 {
		t.Errorf("CheckStep reported a missing command or target: %v", d)
	}
	if d := CheckStep(&Run{Command: sh(""), Network: "x"}); len(d) != 2 {
		t.Errorf("CheckStep = %v, want an empty command and a bad network", d)
	}
}

func TestCheckAcceptsValid(t *testing.T) {
	cfg := &Config{Stages: []*Stage{
		{Kind: KindStage, Name: "build", From: From{Base: &Image{Ref: imageref.MustParse("golang:1.22")}}, Platform: "linux/arm64/v8"},
		image("app",
			&Run{Command: sh("make"), Network: "none", Mounts: []Mount{{Type: "secret", ID: "t", Env: "TOKEN"}, {Type: "bind", Target: "/in", From: &Target{Name: "build"}}}},
			&Copy{FileSpec: FileSpec{Src: []string{"/out"}, Dest: "/"}, From: &Target{Name: "build"}},
			&Add{FileSpec: FileSpec{Dest: "/x"}, URL: "https://example.com/x"},
			&Layer{Name: "l", Steps: []Step{&Run{Command: &Exec{Argv: []string{"true"}}}}},
		),
	}}
	if diags := Check(cfg); len(diags) > 0 {
		t.Fatalf("Check: %v", diags)
	}
	if n := len(cfg.Stages[1].Steps); n != 4 {
		t.Errorf("Check left %d steps, want all 4", n)
	}
}

func TestTopoOrder(t *testing.T) {
	cfg := &Config{Stages: []*Stage{
		{Name: "app", From: From{Base: &Target{Name: "runtime"}}, Steps: []Step{
			&Layer{Name: "l", Steps: []Step{&Copy{From: &Target{Name: "build"}}}},
		}},
		{Name: "runtime", From: From{Base: &Image{Ref: imageref.MustParse("alpine")}}},
		{Name: "build", From: From{Base: &Image{Ref: imageref.MustParse("golang")}}, Steps: []Step{
			&Run{Mounts: []Mount{{Type: "bind", From: &Target{Name: "assets"}}}},
		}},
		{Name: "assets", From: From{Base: &Scratch{}}},
		{Name: "loop1", From: From{Base: &Target{Name: "loop2"}}},
		{Name: "loop2", From: From{Base: &Target{Name: "loop1"}}},
	}}
	var names []string
	for _, s := range TopoOrder(cfg) {
		names = append(names, s.Name)
	}
	want := []string{"runtime", "assets", "build", "app", "loop1", "loop2"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("TopoOrder (-want +got):\n%s", diff)
	}
	dup := &Config{Stages: []*Stage{{Name: "a", From: From{Base: &Target{Name: "a"}}}, {Name: "a"}}}
	if got := len(TopoOrder(dup)); got != 2 {
		t.Errorf("TopoOrder with a repeated name returned %d stages, want 2", got)
	}
	if diff := cmp.Diff([]string{"runtime", "build"}, Dependencies(cfg.Stages[0])); diff != "" {
		t.Errorf("Dependencies (-want +got):\n%s", diff)
	}
}

func TestInvalidImageRefWording(t *testing.T) {
	_, bad := imageref.Parse("Not A Ref")
	_, noPath := imageref.Parse("oci:")
	for _, tt := range []struct {
		written string
		err     error
		also    string
		want    string
	}{
		{"oci:", noPath, "", `"oci:" names no path. Write oci:PATH[:TAG] or docker-archive:PATH.`},
		{"Not A Ref", bad, "", `Write NAME[:TAG][@DIGEST], oci:PATH[:TAG] or docker-archive:PATH.`},
		{"Not A Ref", bad, ", scratch, or a stage reference such as stage.build", `Write NAME[:TAG][@DIGEST], oci:PATH[:TAG], docker-archive:PATH, scratch, or a stage reference such as stage.build.`},
	} {
		d := InvalidImageRef(tt.written, tt.err, rng(1), tt.also)
		if d.Summary != "Invalid image reference" || !strings.HasSuffix(d.Detail, tt.want) {
			t.Errorf("InvalidImageRef(%q, %q) = %q: %s, want a detail ending %q", tt.written, tt.also, d.Summary, d.Detail, tt.want)
		}
	}
}
