package compiler

import (
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
