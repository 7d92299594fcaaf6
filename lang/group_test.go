package lang

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/model"
)

// loadSteps loads a configuration of one image and gives its steps.
func loadSteps(t *testing.T, src string) []model.Step {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.image.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := Load(dir, Options{})
	if diags.HasErrors() {
		t.Fatal(renderDiags(diags))
	}
	return cfg.Stages[0].Steps
}

// TestStepsGroup: a steps block gives its steps its env, workdir, user
// and shell as if written on each (the step's own values win), and
// leaves the stage and its config alone.
func TestStepsGroup(t *testing.T) {
	grouped := loadSteps(t, `variable "ref" { default = "main" }
image "x" {
  from = "scratch"
  env  = { PATH = "/opt/bin:$PATH" }
  run { sh = "a" }
  steps {
    env     = { REF = var.ref, A = "1" }
    workdir = "/src"
    user    = "app"
    shell   = ["/bin/bash", "-c"]

    run { sh = "b" }
    run {
      sh      = "c"
      env     = { A = "2", P = "/x:$PATH" }
      workdir = "sub"
      user    = "root"
    }
    copy {
      src  = "f"
      dest = "./"
    }
    copy {
      src  = "g"
      dest = "/abs"
    }
    mkdir { path = "made" }
    mkdir {
      path = "/abs-made"
      user = "root"
    }
    layer "l" {
      run { sh = "d" }
    }
    steps {
      workdir = "/other"
      env     = { B = "3" }

      run { sh = "f" }
    }
  }
  run { sh = "e" }
}
`)
	flat := loadSteps(t, `variable "ref" { default = "main" }
image "x" {
  from = "scratch"
  env  = { PATH = "/opt/bin:$PATH" }
  run { sh = "a" }
  run {
    sh      = "b"
    env     = { REF = var.ref, A = "1" }
    workdir = "/src"
    user    = "app"
    shell   = ["/bin/bash", "-c"]
  }
  run {
    sh      = "c"
    env     = { REF = var.ref, A = "2", P = "/x:$PATH" }
    workdir = "/src/sub"
    user    = "root"
    shell   = ["/bin/bash", "-c"]
  }
  copy {
    src  = "f"
    dest = "/src/"
  }
  copy {
    src  = "g"
    dest = "/abs"
  }
  mkdir { path = "/src/made" }
  mkdir {
    path = "/abs-made"
    user = "root"
  }
  layer "l" {
    run {
      sh      = "d"
      env     = { REF = var.ref, A = "1" }
      workdir = "/src"
      user    = "app"
      shell   = ["/bin/bash", "-c"]
    }
  }
  run {
    sh      = "f"
    env     = { REF = var.ref, A = "1", B = "3" }
    workdir = "/other"
    user    = "app"
    shell   = ["/bin/bash", "-c"]
  }
  run { sh = "e" }
}
`)
	// A group's variables count for all its steps, as a stage's
	// settings' do.
	opts := cmp.Options{cmpopts.IgnoreTypes(hcl.Range{}), cmpopts.IgnoreFields(model.Copy{}, "Vars"), cmpopts.IgnoreFields(model.Mkdir{}, "Vars")}
	if diff := cmp.Diff(flat, grouped, opts); diff != "" {
		t.Errorf("steps group (-flat +grouped):\n%s", diff)
	}
}
