image "app" {
  from = "debian"
  apt_install {
    packages = "curl" # ERROR: Incorrect attribute value type
  }
  apt_install {
    packages = []
    extra    = true # ERROR: Unsupported argument
  }
  layer "l" {
    apt_install { # ERROR: Invalid apt_install arguments
      packages = []
    }
  }
}
