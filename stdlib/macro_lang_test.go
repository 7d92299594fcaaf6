package stdlib_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/model"
)

func load(t *testing.T, src string) (*model.Config, string) {
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

// TestMacroDiagnostics: a macro's errors are diagnostics at the bad
// argument, with the rule and the fix, and all of them are reported in one
// run: every bad argument of a macro, and the errors of other blocks.
func TestMacroDiagnostics(t *testing.T) {
	_, got := load(t, `
image "x" {
  from = "scratch"
  apt_install {
    packages = ["curl && id", "ok", "-y"]
  }
  user {
    uid  = -5
    gid  = 1.5
    home = file("missing.txt")
  }
  npm_ci {
    dir = "web"
    src = "/abs"
  }
  timezone { zone = "Mars/Olympus Mons" }
  run {
    sh = file("absent.txt")
  }
  go_build {
    output   = 5
    packages = "notalist"
    ldflags  = "-X 'a=b'"
  }
}
`)
	want := []string{
		`Invalid apt_install argument|"curl && id" is not a Debian package (NAME, NAME=VERSION or NAME/RELEASE); write the name without spaces or shell syntax.|5`,
		`Invalid apt_install argument|"-y" is not a Debian package (NAME, NAME=VERSION or NAME/RELEASE); write the name without spaces or shell syntax.|5`,
		`Missing required argument|The argument "name" is required, but no definition was found.|7`,
		"Invalid user argument|`uid` is -5, which is not a whole number from 0 to 2147483647; give one.|8",
		"Invalid user argument|`gid` is 1.5, which is not a whole number from 0 to 2147483647; give one.|9",
		`Error in function call|Call to function "file" failed: no file exists at`,
		"Invalid npm_ci argument|`dir` is \"web\", which is not an absolute path; start it with \"/\".|13",
		"Invalid npm_ci argument|`src` is \"/abs\", which is absolute; give a path relative to the build context.|14",
		`Invalid timezone argument|"Mars/Olympus Mons" is not an IANA time zone name; write one such as Europe/Berlin, America/New_York or UTC.|16`,
		`Incorrect attribute value type|Inappropriate value for attribute "packages"`,
		"Invalid go_build argument|`output` is \"5\", which is not an absolute path; start it with \"/\".|21",
		"Invalid go_build argument|`ldflags` is \"-X 'a=b'\", which holds quotes or shell characters; use flags such as -s -w -X main.version=1.2.3.|23",
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("diagnostics lack\n  %s\ngot:\n%s", w, got)
		}
	}
	if n := strings.Count(got, "Error in function call"); n != 2 {
		t.Errorf("got %d function call errors, want 2 (home's and the run's):\n%s", n, got)
	}
	// home and packages were reported as they failed; the macros do not
	// report them again as empty or invalid.
	if n := len(strings.Split(got, "\n")); n != len(want)+1 {
		t.Errorf("got %d diagnostics, want %d:\n%s", n, len(want)+1, got)
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
	cp, ok := steps[0].(*model.Copy)
	if !ok || cp.Macro != "npm_ci" || cp.Dest != "/srv/" || cp.Range.Start.Line != 5 {
		t.Errorf("step 1 = %#v, want npm_ci's copy to /srv/ at line 5", steps[0])
	}
	run, ok := steps[1].(*model.Run)
	if !ok || run.Macro != "npm_ci" || run.Workdir != "/srv" || run.User != "" || len(run.Writes) == 0 {
		t.Errorf("step 2 = %#v, want npm_ci's run in /srv as the stage user, with writes", steps[1])
	}
	l, ok := steps[2].(*model.Layer)
	if !ok || len(l.Steps) != 1 {
		t.Fatalf("step 3 = %#v, want a layer with one step", steps[2])
	}
	if r, ok := l.Steps[0].(*model.Run); !ok || r.User != "root" || r.Macro != "apk_add" || len(r.Mounts) != 2 {
		t.Errorf("layer step = %#v, want apk_add's run as root with its two cache mounts", l.Steps[0])
	}
}
