# A step macro expands to ordinary steps; plan names the layers after it.

image "tools" {
  from = "docker.io/library/debian:bookworm-slim"

  apt_install {
    packages = ["curl", "jq"]
  }

  layer "git" {
    apt_install {
      packages = ["git"]
    }
    run {
      sh = "git --version"
    }
  }
}
