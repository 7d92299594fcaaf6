image "nofrom" { # ERROR: Missing required argument
  run {
    sh = "true"
  }
}

image "steps" {
  from = "alpine"
  copy { # ERROR: Missing required argument
    src = "a"
  }
  copy {
    src  = [] # ERROR: Empty source path
    dest = "" # ERROR: Empty dest
  }
  copy { # ERROR: Missing required argument
    dest = "/x"
  }
  copy {
    src     = "a"
    content = "x" # ERROR: Copy with src and content
    dest    = "/x"
  }
  copy {
    src  = "a"
    name = "n" # ERROR: Name without content
    dest = "/x"
  }
  copy {
    content = "x"
    name    = "n"
    dest    = "/x/"
  }
  add { # ERROR: Missing add source
    dest = "/x"
  }
  add {
    dest = "/x"
    srcs = ["a"] # ERROR: Unsupported argument
  }
  add {
    src  = "a"
    url  = "https://example.com/a" # ERROR: Conflicting add sources
    dest = "/x"
  }
  add {
    url  = "https://example.com/a"
    dest = "/x"
  }
  add {
    git  = "/srv/repo.git" # ERROR: Invalid git repository
    dest = "/x"
  }
  add {
    git  = "https://example.com/repo.git"
    ref  = "--upload-pack=x" # ERROR: Invalid git ref
    dest = "/x"
  }
  add {
    git    = "git@example.com:repo.git"
    subdir = "../up" # ERROR: Invalid git subdirectory
    dest   = "/x"
  }
  add {
    src          = "a"
    keep_git_dir = true        # ERROR: Git setting without git
    checksum     = "sha256:00" # ERROR: Checksum without url
    dest         = "/x"
  }
  add {
    src  = "a"
    git  = "https://example.com/repo.git" # ERROR: Conflicting add sources
    dest = "/x"
  }
  add {
    url      = "ftp://example.com/a" # ERROR: Invalid URL
    checksum = "md5:abc"             # ERROR: Invalid checksum
    dest     = "/x"
  }
  apt_install { # ERROR: Missing required argument
  }
  apt_install {
    packages = ["curl; rm -rf /"] # ERROR: Invalid apt_install argument
  }
  layer "nested" {
    layer "inner" { # ERROR: Unsupported block type
    }
  }
}
