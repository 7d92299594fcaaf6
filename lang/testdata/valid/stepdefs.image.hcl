# Step definitions: typed parameters with defaults and validation, used
# in images, inside layers and from other definitions; a definition that
# makes a layer.

variable "mirror" {
  default = "https://mirror.example"
}

step "ca_bundle" {
  variable "path" {
    type    = string
    default = "/etc/ssl/company.pem"
  }
  copy {
    src  = "certs/company.pem"
    dest = var.path
  }
}

step "go_service_build" {
  variable "package" {
    type = string
    validation {
      condition     = substr(var.package, 0, 2) == "./"
      error_message = "The package is a path below the module, such as ./cmd/api."
    }
  }
  variable "flags" {
    type    = list(string)
    default = []
  }
  variable "mirror" {
    type      = string
    sensitive = true
  }
  ca_bundle {}
  run {
    sh  = "go build ${join(" ", var.flags)} -o /out/app ${var.package}"
    env = { GOPROXY = var.mirror }
    mount "cache" {
      target = "/root/.cache/go-build"
    }
  }
}

step "deps_layer" {
  variable "packages" {
    type = list(string)
  }
  layer "deps" {
    apt_install {
      packages = var.packages
    }
  }
}

image "api" {
  from = "docker.io/library/golang:1.22"
  deps_layer {
    packages = ["git"]
  }
  go_service_build {
    package = "./cmd/api"
    mirror  = var.mirror
  }
  layer "certs" {
    ca_bundle {
      path = "/certs.pem"
    }
  }
}
