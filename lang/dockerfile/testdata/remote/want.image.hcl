# Converted from Dockerfile by imgc convert.

variable "REF" {
  description = "ARG REF of stage app"
  type        = string
  default     = "v1"
}

variable "REPO" {
  description = "ARG REPO of stage app"
  type        = string
  default     = "https://example.com/tool.git"
}

variable "SUB" {
  description = "ARG SUB of stage app"
  type        = string
  default     = "cmd"
}

variable "TOOL_VERSION" {
  description = "ARG TOOL_VERSION of stage app"
  type        = string
  default     = "v2.0"
}

variable "COMMIT" {
  description = "ARG COMMIT of stage app"
  type        = string
  default     = "0123456789abcdef0123456789abcdef01234567"
}

variable "HASH" {
  description = "ARG HASH of stage app"
  type        = string
  default     = "https://example.com/x.git#v1"
}

image "app" {
  from = "alpine"

  add {
    url  = "https://example.com/tool.tar.gz"
    dest = "/opt/"
  }

  add {
    git          = "https://example.com/repo.git"
    ref          = "v1"
    subdir       = "sub"
    keep_git_dir = true
    dest         = "/src"
  }

  add {
    git  = "git@example.com:org/repo.git"
    dest = "/r/"
  }

  add {
    git  = "https://example.com/repo.git"
    ref  = var.REF
    dest = "/r2"
  }

  add {
    git    = var.REPO
    ref    = var.REF
    subdir = var.SUB
    dest   = "/r3"
  }

  add {
    git          = "https://github.com/org/tool.git"
    ref          = var.TOOL_VERSION
    keep_git_dir = true
    dest         = "/r4"
  }

  add {
    git        = "https://github.com/org/${var.SUB}.git"
    ref        = "refs/tags/${var.TOOL_VERSION}"
    submodules = false
    dest       = "/r5"
  }

  add {
    git  = var.REPO
    ref  = var.COMMIT
    dest = "/r6"
  }

  add {
    git  = "https://example.com/x.git"
    ref  = "v1"
    dest = "/r7"
  }

  add {
    git  = "https://example.com/quoted.git"
    ref  = var.REF
    dest = "/r8"
  }
}

