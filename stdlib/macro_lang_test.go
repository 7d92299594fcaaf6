package stdlib_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/imgc-dev/imgc/lang"
)

func load(t *testing.T, src string) (*lang.Config, string) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "m.image.hcl")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := lang.Load(dir, lang.Options{})
	var msgs []string
	for _, d := range diags {
		line := 0
		if d.Subject != nil {
			line = d.Subject.Start.Line
		}
		msgs = append(msgs, d.Summary+"|"+d.Detail+"|"+strconv.Itoa(line))
	}
	return cfg, strings.Join(msgs, "\n")
}

// TestMacroDiagnostics: a macro's errors are diagnostics at the macro block,
// with the rule and the fix, and all of them are reported in one run.
func TestMacroDiagnostics(t *testing.T) {
	_, got := load(t, `
image "x" {
  from = "scratch"
  apt_install {
    packages = ["curl && id"]
  }
  user {
    uid = 1000
  }
  npm_ci {
    dir = "web"
  }
  timezone { zone = "Mars/Olympus Mons" }
}
`)
	for _, want := range []string{
		`Invalid apt_install arguments|"curl && id" is not a Debian package (NAME, NAME=VERSION or NAME/RELEASE); write the name without spaces or shell syntax.|4`,
		`Missing required argument|The argument "name" is required, but no definition was found.|7`,
		`Invalid npm_ci arguments|Dir "web" is not an absolute path; start it with "/".|10`,
		`Invalid timezone arguments|"Mars/Olympus Mons" is not an IANA time zone name; write one such as Europe/Berlin, America/New_York or UTC.|13`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("diagnostics lack\n  %s\ngot:\n%s", want, got)
		}
	}
}

// TestMacroStepsInLanguage: expansions become ordinary steps that carry the
// macro's name, its block's range, and the workdir and user it sets, also
// inside a layer block.
func TestMacroStepsInLanguage(t *testing.T) {
	cfg, diags := load(t, `
image "x" {
  from = "scratch"
  user = "app"
  npm_ci { dir = "/srv" }
  layer "system" {
    apk_add { packages = ["curl"] }
  }
}
`)
	if diags != "" {
		t.Fatal(diags)
	}
	steps := cfg.Stage("x").Steps
	if len(steps) != 3 {
		t.Fatalf("got %d steps, want copy, run and a layer", len(steps))
	}
	cp, ok := steps[0].(*lang.Copy)
	if !ok || cp.Macro != "npm_ci" || cp.Dest != "/srv/" || cp.Range.Start.Line != 5 {
		t.Errorf("step 1 = %#v, want npm_ci's copy to /srv/ at line 5", steps[0])
	}
	run, ok := steps[1].(*lang.Run)
	if !ok || run.Macro != "npm_ci" || run.Workdir != "/srv" || run.User != "" || len(run.Writes) == 0 {
		t.Errorf("step 2 = %#v, want npm_ci's run in /srv as the stage user, with writes", steps[1])
	}
	l, ok := steps[2].(*lang.Layer)
	if !ok || len(l.Steps) != 1 {
		t.Fatalf("step 3 = %#v, want a layer with one step", steps[2])
	}
	if r, ok := l.Steps[0].(*lang.Run); !ok || r.User != "root" || r.Macro != "apk_add" || len(r.Mounts) != 2 {
		t.Errorf("layer step = %#v, want apk_add's run as root with its two cache mounts", l.Steps[0])
	}
}
