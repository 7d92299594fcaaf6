package dockerfile

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/model"
)

// The ONBUILD triggers of a base image outside the Dockerfile run first in
// the stage built on it, at its FROM line, when BaseOnBuild can read them.
func TestImportRunsBaseImageTriggers(t *testing.T) {
	src := []byte("FROM oci:base:latest\nRUN echo own\n")
	var asked []string
	cfg, diags := Import("Dockerfile", src, Options{Platform: "linux/amd64", BaseOnBuild: func(ref imageref.Ref) ([]string, error) {
		asked = append(asked, ref.Qualified())
		return []string{"RUN echo triggered", "ENV FROM_TRIGGER=1"}, nil
	}})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if len(asked) != 1 || asked[0] != "oci:base:latest" { // as written: the runtime resolves the path
		t.Fatalf("BaseOnBuild asked for %q, want the FROM's reference once", asked)
	}
	steps := cfg.Stages[0].Steps
	if len(steps) != 2 {
		t.Fatalf("got %d steps, want the trigger's and the stage's own", len(steps))
	}
	first, ok := steps[0].(*model.Run)
	if !ok {
		t.Fatalf("first step is %#v, want the trigger's RUN", steps[0])
	}
	if sh, isSh := first.Command.(*model.Sh); !isSh || sh.Script != "echo triggered" {
		t.Fatalf("first step runs %#v, want the trigger's command", first.Command)
	}
	if line := first.StepRange().Start.Line; line != 1 {
		t.Errorf("the trigger's step is at line %d, want the FROM's line 1", line)
	}
	own := steps[1].(*model.Run)
	if !hasEnv(own.Env, "FROM_TRIGGER", "1") && !hasEnv(cfg.Stages[0].Env, "FROM_TRIGGER", "1") {
		t.Errorf("the trigger's ENV does not reach the stage's own RUN")
	}
}

func TestImportBaseTriggersUnreadable(t *testing.T) {
	src := []byte("FROM oci:base:latest\nRUN echo own\n")
	cfg, diags := Import("Dockerfile", src, Options{Platform: "linux/amd64", BaseOnBuild: func(imageref.Ref) ([]string, error) {
		return nil, errors.New("no such layout")
	}})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if len(diags) != 1 || diags[0].Severity != hcl.DiagWarning || !strings.Contains(diags[0].Detail, "no such layout") {
		t.Fatalf("want one warning naming the error, got %v", diags)
	}
	if n := len(cfg.Stages[0].Steps); n != 1 {
		t.Errorf("got %d steps, want the stage's own", n)
	}
}

func TestImportRejectsBadTrigger(t *testing.T) {
	src := []byte("FROM oci:base:latest\n")
	_, diags := Import("Dockerfile", src, Options{Platform: "linux/amd64", BaseOnBuild: func(imageref.Ref) ([]string, error) {
		return []string{"FROM other"}, nil
	}})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "Invalid ONBUILD trigger") {
		t.Fatalf("want an Invalid ONBUILD trigger error, got %v", diags)
	}
}

func hasEnv(env []model.EnvVar, name, value string) bool {
	for _, e := range env {
		if e.Name == name && e.Value == value {
			return true
		}
	}
	return false
}
