package ir

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A step expanded from a step definition shows the definition's line under
// the call's, in text and JSON, and a failure names both.
func TestPrintDefinitionLine(t *testing.T) {
	p := samplePlan()
	r := p.Targets[0].Layers[0].Steps[0].(*Run)
	r.Definition = &Origin{File: "/proj/defs.image.hcl", Line: 12}
	p.Targets[0].Layers[0].Name = "go_build ./cmd/api"
	var b bytes.Buffer
	PrintText(&b, p, nil, false)
	lines := strings.Split(b.String(), "\n")
	if !strings.Contains(lines[2], "go_build ./cmd/api") || !strings.Contains(lines[2], "a.image.hcl:4") {
		t.Fatalf("layer row %q lacks the call", lines[2])
	}
	if !strings.Contains(lines[3], "defined at") || !strings.Contains(lines[3], "defs.image.hcl:12") {
		t.Errorf("the row under the call %q lacks the definition's line:\n%s", lines[3], b.String())
	}
	b.Reset()
	if err := PrintJSON(&b, p, nil); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Targets []struct {
			Layers []struct {
				Steps []struct {
					Source     string `json:"source"`
					Definition string `json:"definition"`
				} `json:"steps"`
			} `json:"layers"`
		} `json:"targets"`
	}
	if err := json.Unmarshal(b.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	got := out.Targets[0].Layers[0].Steps[0]
	if got.Source != "a.image.hcl:4" || got.Definition != "defs.image.hcl:12" {
		t.Errorf("JSON step source %q definition %q", got.Source, got.Definition)
	}
	if diff := cmp.Diff([]Origin{r.Origin, *r.Definition}, StepOrigins(r)); diff != "" {
		t.Errorf("StepOrigins (-want +got):\n%s", diff)
	}
	if os := StepOrigins(p.Targets[0].Layers[1].Steps[0]); len(os) != 1 {
		t.Errorf("a step written as such has one origin, got %v", os)
	}
}
