image "app" {
  from = "debian"
  apt_install {
    packages = "curl" # ERROR: Incorrect attribute value type
  }
  apt_install {
    packages = []   # ERROR: Invalid apt_install argument
    extra    = true # ERROR: Unsupported argument
  }
  layer "l" {
    apt_install {
      packages = [] # ERROR: Invalid apt_install argument
    }
  }
  user {
    name = "app"
    uid  = -5 # ERROR: Invalid user argument
    gid  = -3 # ERROR: Invalid user argument
  }
  copy {
    src  = "a"
    dest = "" # ERROR: Empty dest
  }
}
