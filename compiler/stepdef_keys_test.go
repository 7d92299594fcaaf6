package compiler

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The steps of stepdefInline, written once inline and once through step
// definitions (nested, with defaults, a layer and a macro): cache keys
// depend on what the steps do, never on where they are written.
const stepdefInline = `
image "app" {
  from = "docker.io/library/python:3.12"
  layer "deps" {
    apt_install {
      packages = ["git", "curl"]
    }
    run {
      sh = "pip install -r /tmp/requirements.txt"
    }
  }
  copy {
    src  = ["app/"]
    dest = "/app/"
  }
  run {
    sh  = "python -m compileall /app && echo 2 > /app/VERSION"
    env = { MODE = "prod" }
    mount "cache" {
      target = "/root/.cache"
    }
  }
}
`

const stepdefDefined = `
variable "version" {
  default = 2
}

step "deps" {
  variable "packages" {
    type = list(string)
  }
  layer "deps" {
    apt_install {
      packages = var.packages
    }
    run {
      sh = "pip install -r /tmp/requirements.txt"
    }
  }
}

step "compile" {
  variable "version" {
    type = number
  }
  variable "mode" {
    type    = string
    default = "prod"
  }
  run {
    sh  = "python -m compileall /app && echo ${var.version} > /app/VERSION"
    env = { MODE = var.mode }
    mount "cache" {
      target = "/root/.cache"
    }
  }
}

step "app" {
  variable "version" {
    type = number
  }
  copy {
    src  = ["app/"]
    dest = "/app/"
  }
  compile {
    version = var.version
  }
}

image "app" {
  from = "docker.io/library/python:3.12"
  deps {
    packages = ["curl", "git"]
  }
  app {
    version = var.version
  }
}
`

func TestKeysSameThroughStepDefinitions(t *testing.T) {
	inline := keysOf(t, stepdefInline, appFiles, nil)
	defined := keysOf(t, stepdefDefined, appFiles, nil)
	if len(inline) != 4 {
		t.Fatalf("inline keys: %v, want a base and three layers", inline)
	}
	if diff := cmp.Diff(inline, defined); diff != "" {
		t.Errorf("keys through step definitions differ from inline steps (-inline +defined):\n%s", diff)
	}
	changed := keysOf(t, stepdefDefined, appFiles, map[string]string{"version": "3"})
	if changed["app/3"] == inline["app/3"] || changed["app/2"] != inline["app/2"] {
		t.Errorf("a changed argument must change the key of its step only: %v vs %v", inline, changed)
	}
}

// stepdefModule is stepdefDefined's image using the same definitions from
// a module, whose copy reads the module's own directory.
const stepdefModule = `
variable "version" {
  default = 2
}

module "lib" {
  source = "./lib"
}

image "app" {
  from = "docker.io/library/python:3.12"
  use "module.lib.step.deps" {
    packages = ["curl", "git"]
  }
  use "module.lib.step.app" {
    version = var.version
  }
}
`

func TestKeysSameThroughModules(t *testing.T) {
	inline := keysOf(t, stepdefInline, appFiles, nil)
	files := map[string]string{}
	for p, c := range appFiles {
		files["lib/"+p] = c // the module's copy of the files
	}
	// The module holds the definitions, and no image.
	lib := strings.SplitN(stepdefDefined, "image \"app\"", 2)[0]
	files["lib/lib.image.hcl"] = strings.Replace(lib, "variable \"version\" {\n  default = 2\n}\n", "", 1)
	viaModule := keysOf(t, stepdefModule, files, nil)
	if diff := cmp.Diff(inline, viaModule); diff != "" {
		t.Errorf("keys through a module differ from inline steps (-inline +module):\n%s", diff)
	}
	files["lib/app/main.py"] = "print('changed')\n"
	changed := keysOf(t, stepdefModule, files, nil)
	if changed["app/2"] == inline["app/2"] {
		t.Errorf("a changed file in the module's directory must change the key of the copy that reads it")
	}
}
