package lang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/model"
)

func writeConfig(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Sensitive step parameters and module variables are masked as sensitive
// variables are: their values join Config.Sensitive, and a use's label
// leaves them out.
func TestSensitiveParametersAndModuleVariables(t *testing.T) {
	dir := writeConfig(t, map[string]string{
		"main.image.hcl": `
module "m" {
  source = "./m"
  token  = "tok-123"
}

step "login" {
  variable "user" {
    type = string
  }
  variable "password" {
    type      = string
    sensitive = true
  }
  run {
    sh = "login ${var.user} ${var.password}"
  }
}

image "app" {
  from = module.m.image.base
  login {
    user     = "me"
    password = "hunter2"
  }
}
`,
		"m/m.image.hcl": `
variable "token" {
  type      = string
  sensitive = true
}

image "base" {
  from = "scratch"
  run {
    sh = "use ${var.token}"
  }
}
`,
	})
	cfg, diags := Load(dir, Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	want := map[string]string{"step.login.password": "hunter2", "module.m.var.token": "tok-123"}
	if diff := cmp.Diff(want, cfg.Sensitive); diff != "" {
		t.Errorf("sensitive values (-want +got):\n%s", diff)
	}
	if got := cfg.Vars["module.m.var.token"]; got != "(sensitive)" {
		t.Errorf("the module variable is shown as %q", got)
	}
	app := cfg.Stage("app")
	r := app.Steps[0].(*model.Run)
	if r.MacroLabel != "login me" || strings.Contains(r.MacroLabel, "hunter2") {
		t.Errorf("the use is labelled %q, want %q", r.MacroLabel, "login me")
	}
	base := cfg.Stage("module.m.image.base")
	if base == nil || base.Kind != model.KindStage {
		t.Fatalf("the module's image is %+v, want a stage named module.m.image.base", base)
	}
	if got := base.Steps[0].(*model.Run).Vars; !cmp.Equal(got, []string{"module.m.var.token"}) {
		t.Errorf("the module's step refers to variables %q", got)
	}
}

// A definition's copy reads the directory of the configuration that
// declares it: the build context for the root's, the module's own for a
// module's; the model says so by Context, and Range is the use's.
func TestStepContexts(t *testing.T) {
	dir := writeConfig(t, map[string]string{
		"main.image.hcl": `
module "m" {
  source = "./m"
}

step "here" {
  copy {
    src  = "a"
    dest = "/a"
  }
}

image "app" {
  from = "scratch"
  here {}
  use "module.m.step.there" {}
}
`,
		"m/m.image.hcl": `
step "there" {
  copy {
    src  = "b"
    dest = "/b"
  }
}
`,
	})
	cfg, diags := Load(dir, Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	steps := cfg.Stage("app").Steps
	here, there := steps[0].(*model.Copy), steps[1].(*model.Copy)
	if here.Context != "" || there.Context != filepath.Join(dir, "m") {
		t.Errorf("contexts %q and %q, want \"\" and %q", here.Context, there.Context, filepath.Join(dir, "m"))
	}
	if here.Range.Start.Line != 15 || here.Definition.Start.Line != 7 || there.Range.Start.Line != 16 ||
		filepath.Base(there.Definition.Filename) != "m.image.hcl" {
		t.Errorf("ranges: here %v (defined %v), there %v (defined %v)", here.Range, here.Definition, there.Range, there.Definition)
	}
}
