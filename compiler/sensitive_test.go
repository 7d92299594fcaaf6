package compiler

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
)

const sensitiveConfig = `
variable "token" {
  sensitive = true
  default   = "hunter2-s3cr3t"
}
variable "creds" {
  sensitive = true
  type      = map(string)
  default   = { user = "alice-secret-user" }
}
image "app" {
  from = "scratch"
  env  = { T = var.token }
  run {
    sh = "echo ${var.token} | wc -c > /tok"
  }
  run {
    exec = ["/bin/login", var.creds["user"]]
  }
  add {
    url      = "https://x:${var.token}@example.com/f.tgz"
    checksum = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
    dest     = "/f.tgz"
  }
  layer "both" {
    run {
      sh = "echo ${var.token}"
    }
    run {
      sh = "echo again ${var.token}"
    }
  }
}
`

// sensitivePlan compiles sensitiveConfig with --var token=value.
func sensitivePlan(t *testing.T, token string) *ir.Plan {
	t.Helper()
	dir := writeTree(t, map[string]string{"app.image.hcl": sensitiveConfig})
	cfg, diags := lang.Load(filepath.Join(dir, "app.image.hcl"), lang.Options{Vars: lang.FlagVars(map[string]string{"token": token})})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return mustCompile(t, cfg, Options{})
}

func TestSensitiveValuesMasked(t *testing.T) {
	const token = "hunter2-s3cr3t"
	for _, optimize := range []string{LevelNone, LevelSafe, LevelAll} {
		dir := writeTree(t, map[string]string{"app.image.hcl": sensitiveConfig})
		cfg, diags := lang.Load(filepath.Join(dir, "app.image.hcl"), lang.Options{})
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		p := mustCompile(t, cfg, Options{Optimize: optimize})
		var text, js bytes.Buffer
		ir.PrintText(&text, p, nil, false)
		if err := ir.PrintJSON(&js, p, nil); err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{token, "alice-secret-user"} {
			if strings.Contains(text.String(), secret) {
				t.Errorf("--optimize=%s: plan text shows %q:\n%s", optimize, secret, text.String())
			}
			if strings.Contains(js.String(), secret) {
				t.Errorf("--optimize=%s: plan JSON shows %q:\n%s", optimize, secret, js.String())
			}
			for _, l := range p.Targets[0].Layers {
				if strings.Contains(l.CreatedBy, secret) || strings.Contains(l.Name, secret) {
					t.Errorf("--optimize=%s: layer %q (created by %q) shows %q", optimize, l.Name, l.CreatedBy, secret)
				}
			}
		}
		if !strings.Contains(js.String(), ir.SensitiveToken(token)) {
			t.Errorf("--optimize=%s: plan JSON does not show the token %s:\n%s", optimize, ir.SensitiveToken(token), js.String())
		}
		// The runtime still gets the real values.
		run := p.Targets[0].Layers[0].Steps[0].(*ir.Run)
		if got := run.Argv[len(run.Argv)-1]; got != "echo "+token+" | wc -c > /tok" {
			t.Errorf("--optimize=%s: run argv ends with %q, want the real command", optimize, got)
		}
		if len(run.Env) != 1 || run.Env[0] != "T="+token {
			t.Errorf("--optimize=%s: run env %q, want the real value", optimize, run.Env)
		}
		b, _ := json.Marshal(p)
		if strings.Contains(string(b), `"Sensitive"`) {
			t.Errorf("the plan's sensitive values are serialised")
		}
	}
}

func TestSensitiveValueChangesKey(t *testing.T) {
	a, b := sensitivePlan(t, "first-secret"), sensitivePlan(t, "second-secret")
	ka, kb := a.Targets[0].Layers[0].Key, b.Targets[0].Layers[0].Key
	if ka == kb {
		t.Errorf("changing a sensitive value keeps the key %s", ka)
	}
	if again := sensitivePlan(t, "first-secret").Targets[0].Layers[0].Key; again != ka {
		t.Errorf("the same sensitive value gives keys %s and %s", ka, again)
	}
	va, vb := a.Targets[0].Layers[0].Vars["token"], b.Targets[0].Layers[0].Vars["token"]
	if va == vb || va != ir.SensitiveToken("first-secret") {
		t.Errorf("the layer's var.token is %q, then %q: want tokens that tell the values apart", va, vb)
	}
}

// A layer name is clipped to 40 characters: a sensitive value the clip
// would cut in two is masked first, so no part of it shows.
func TestSensitiveValueClippedName(t *testing.T) {
	const secret = "ghp_SuperSecretToken123456"
	dir := writeTree(t, map[string]string{"app.image.hcl": `
variable "token" {
  sensitive = true
  default   = "` + secret + `"
}
image "app" {
  from = "scratch"
  run {
    sh = "git config --global token ${var.token}"
  }
  run {
    sh = <<-EOT
      echo ${var.token}
      more
    EOT
  }
}
`})
	cfg, diags := lang.Load(filepath.Join(dir, "app.image.hcl"), lang.Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	p := mustCompile(t, cfg, Options{})
	var text bytes.Buffer
	ir.PrintText(&text, p, nil, false)
	for _, l := range p.Targets[0].Layers {
		if strings.Contains(l.Name, secret[:5]) {
			t.Errorf("layer name %q shows part of the secret", l.Name)
		}
	}
	if strings.Contains(text.String(), secret[:5]) {
		t.Errorf("plan shows part of the secret:\n%s", text.String())
	}
}
