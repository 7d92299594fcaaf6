# Converted from Dockerfile by imgc convert.

variable "REF" {
  description = "ARG REF of stage app"
  type        = string
  default     = "v1"
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
    ref  = "v1"
    dest = "/r2"
  }
}

