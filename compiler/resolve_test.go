package compiler

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/model"
)

// TestUnreadableBase: a local base that cannot be read is an error at
// `from` (nothing can make it appear before the build needs it); a
// registry base that does not resolve stays a warning.
func TestUnreadableBase(t *testing.T) {
	tests := []struct {
		from     string
		severity hcl.DiagnosticSeverity
		summary  string
		detail   []string // substrings of the detail
	}{
		{"oci:/tmp/nope:latest", hcl.DiagError, "Base image not found", []string{"oci:/tmp/nope:latest", "open /tmp/nope/index.json", "Fix the path"}},
		{"oci:layout:v2", hcl.DiagError, "Base image not found", []string{"/layout:v2", "has the tag"}},
		{"docker-archive:img.tar", hcl.DiagError, "Base image not found", []string{"/img.tar", "docker save"}},
		{"debian:bookworm", hcl.DiagWarning, "Base image not resolved", []string{"pin it in imgc.lock.hcl"}},
	}
	for _, tt := range tests {
		t.Run(tt.from, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"app.image.hcl": `image "app" {
  from = "` + tt.from + `"
}
`})
			cfg, diags := lang.Load(filepath.Join(dir, "app.image.hcl"), lang.Options{})
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			_, diags = Compile(cfg, Options{Platform: amd64, Resolve: ResolverFunc(func(ref imageref.Ref, _ ir.Platform) (string, error) {
				p := ref.Path
				return "", errors.New("open " + p + "/index.json: no such file or directory")
			})})
			if len(diags) != 1 {
				t.Fatalf("got %d diagnostics, want 1: %s", len(diags), diags.Error())
			}
			d := diags[0]
			if d.Severity != tt.severity || d.Summary != tt.summary {
				t.Errorf("got %v %q, want %v %q", d.Severity, d.Summary, tt.severity, tt.summary)
			}
			for _, s := range tt.detail {
				if !strings.Contains(d.Detail, s) {
					t.Errorf("detail %q does not say %q", d.Detail, s)
				}
			}
			if d.Subject == nil || d.Subject.Start.Line != 2 || d.Subject.Start.Column != 10 {
				t.Errorf("subject %v, want the from value on line 2", d.Subject)
			}
			if tt.severity == hcl.DiagError && strings.Contains(d.Detail, "imgc.lock.hcl") {
				t.Errorf("the error for a local base talks about pinning: %s", d.Detail)
			}
		})
	}
}

// TestUnresolvedBaseIsQuiet: ErrUnresolved leaves a base keyed by its
// reference without a diagnostic, local or not.
func TestUnresolvedBaseIsQuiet(t *testing.T) {
	for _, ref := range []string{"oci:layout", "debian"} {
		cfg := &model.Config{Dir: t.TempDir(), Stages: []*model.Stage{{Kind: model.KindImage, Name: "x", From: model.From{Base: &model.Image{Ref: imageref.MustParse(ref)}}}}}
		_, diags := Compile(cfg, Options{Platform: amd64, Resolve: ResolverFunc(func(imageref.Ref, ir.Platform) (string, error) {
			return "", ErrUnresolved
		})})
		if len(diags) > 0 {
			t.Errorf("%s: %s", ref, diags.Error())
		}
	}
}

// TestCompilePartialConfig: the partial Config lang.Load returns with
// errors compiles to the problems only the compiler finds (a missing copy
// source), without repeating what the loader reported, so that a command
// can report both in one run.
func TestCompilePartialConfig(t *testing.T) {
	dir := writeTree(t, map[string]string{"app.image.hcl": `
image "app" {
  from = "scratch"
  user {
    name = "app"
    uid  = -5
  }
  run {
    network = "none"
  }
  copy {
    src  = "a.txt"
    dest = ""
  }
  add {
    dest = "/x"
  }
  copy {
    src  = "nope.txt"
    dest = "/nope"
  }
}
image "broken" {
  from = ["alpine"]
  run {
    sh = "true"
  }
}
image "missing" {
  run {
    sh = "true"
  }
}
`, "a.txt": "a\n"})
	cfg, ldiags := lang.Load(filepath.Join(dir, "app.image.hcl"), lang.Options{})
	if len(ldiags.Errs()) != 6 {
		t.Errorf("loading: got %d errors, want 6:\n%s", len(ldiags.Errs()), ldiags.Error())
	}
	_, diags := Compile(cfg, Options{Platform: amd64})
	if len(diags) != 1 || diags[0].Summary != "Copy source not found" || diags[0].Subject == nil || diags[0].Subject.Start.Line != 18 {
		t.Errorf("compiling: got %s, want only the missing copy source on line 18", diags.Error())
	}
}

// TestConfigOnlyReadsNothing: with ConfigOnly (validate) a missing copy
// source, bind-mount source or local base is no error, and the resolver
// is never asked; the same configuration compiled normally reports each.
func TestConfigOnlyReadsNothing(t *testing.T) {
	dir := writeTree(t, map[string]string{"app.image.hcl": `image "app" {
  from = "oci:./layouts/base:1"
  copy {
    src  = ["dist/"]
    dest = "/app/"
  }
  run {
    sh = "ls /in"
    mount "bind" {
      target = "/in"
      source = "no-such-dir"
    }
  }
}
`})
	cfg, diags := lang.Load(filepath.Join(dir, "app.image.hcl"), lang.Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	asked := 0
	resolve := ResolverFunc(func(ref imageref.Ref, _ ir.Platform) (string, error) {
		asked++
		return "", errors.New("open " + ref.Path + "/index.json: no such file or directory")
	})
	plan, diags := Compile(cfg, Options{Platform: amd64, Resolve: resolve, ConfigOnly: true})
	if len(diags) > 0 || asked > 0 {
		t.Errorf("ConfigOnly: resolver asked %d times, diagnostics: %s", asked, diags.Error())
	}
	if plan == nil || len(plan.Targets) != 1 || len(plan.Targets[0].Layers) != 2 {
		t.Errorf("ConfigOnly plan: %+v", plan)
	}

	_, diags = Compile(cfg, Options{Platform: amd64, Resolve: resolve})
	var got []string
	for _, d := range diags {
		got = append(got, d.Summary)
	}
	want := []string{"Base image not found", "Copy source not found", "Bind mount source not found"}
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("without ConfigOnly (-want +got):\n%s", diff)
	}
}
