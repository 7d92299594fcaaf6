# Stage references flow through locals and conditionals; macros work in
# layers and as dynamic blocks.

variable "fast" {
  type    = bool
  default = true
}

locals {
  builder = var.fast ? stage.cached : stage.clean
}

stage "cached" {
  from = "docker.io/library/debian:bookworm-slim"
}

stage "clean" {
  from = "docker.io/library/debian:bookworm"
}

image "app" {
  from = local.builder
  layer "deps" {
    apt_install {
      packages = ["git"]
    }
    run {
      sh = "git --version"
    }
  }
  dynamic "apt_install" {
    for_each = [["curl"], ["jq", "yq"]]
    content {
      packages = apt_install.value
    }
  }
  copy {
    from = var.fast ? image.tools : stage.clean
    src  = "/bin/busybox"
    dest = "/bin/"
  }
}

image "tools" {
  from = "scratch"
}
