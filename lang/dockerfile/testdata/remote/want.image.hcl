# Converted from Dockerfile by imgc convert.

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
}

