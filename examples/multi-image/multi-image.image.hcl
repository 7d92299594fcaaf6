# Two images sharing a common stage: its layers are built once, stored
# once, and both images reference the same layer blobs. It builds offline
# on the busybox base image (go run ./internal/cmd/mkbase
# .cache/base/busybox from the repository root makes it).

variable "base" {
  type        = string
  default     = "oci:../../.cache/base/busybox:latest"
  description = "The base image of the common stage."
}

variable "release" {
  type    = string
  default = "1.0.0"
  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.release))
    error_message = "release must be MAJOR.MINOR.PATCH."
  }
}

locals {
  labels = {
    "org.opencontainers.image.version" = var.release
    "org.opencontainers.image.vendor"  = "imgc examples"
  }
}

# What every service shares: the account, the shell library and the release
# stamp. A stage is built only because the images below start from it.
stage "common" {
  from = var.base

  user {
    name = "app"
    uid  = 1000
    gid  = 1000
  }

  copy {
    src  = "lib/common.sh"
    dest = "/usr/local/lib/app/common.sh"
  }

  run {
    sh     = "echo ${var.release} > /etc/app-release"
    writes = ["/etc/app-release"]
  }
}

image "api" {
  from = stage.common
  tags = ["localhost/imgc-multi-api:${var.release}"]

  copy {
    src  = "api/health.json"
    dest = "/srv/api/health.json"
  }

  copy {
    src   = "api/api.sh"
    dest  = "/usr/local/bin/api"
    chmod = "0755"
  }

  config {
    entrypoint = ["/usr/local/bin/api"]
    user       = "app"
    env        = { PORT = "8080" }
    expose     = ["8080/tcp"]
    labels     = merge(local.labels, { "org.opencontainers.image.title" = "api" })
  }
}

image "worker" {
  from = stage.common
  tags = ["localhost/imgc-multi-worker:${var.release}"]

  copy {
    src  = "worker/jobs/"
    dest = "/srv/jobs/"
  }

  copy {
    src   = "worker/worker.sh"
    dest  = "/usr/local/bin/worker"
    chmod = "0755"
  }

  config {
    entrypoint = ["/usr/local/bin/worker"]
    user       = "app"
    labels     = merge(local.labels, { "org.opencontainers.image.title" = "worker" })
  }
}
