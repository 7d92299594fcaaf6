# Two images built from one module (./platform): its runtime image is
# their base, and its `service` step definition installs each of them.

variable "base" {
  type        = string
  default     = "oci:../../.cache/base/busybox:latest"
  description = "The base image: a busybox OCI layout (make demo creates it)."
}

# The base, named here so that the module gets a reference: a relative
# oci: path given to a module would be read against the module's directory.
stage "os" {
  from = var.base
}

module "platform" {
  source = "./platform"
  base   = stage.os
}

image "api" {
  from = module.platform.image.runtime
  tags = ["localhost/imgc-shared-api:latest"]
  copy {
    src   = "api/main.sh"
    dest  = "/srv/api/main.sh"
    chmod = "0755"
  }
  use "module.platform.step.service" {
    name = "api"
  }
  config {
    entrypoint = ["/usr/local/bin/run-service", "api"]
    user       = "app"
  }
}

image "worker" {
  from = module.platform.image.runtime
  tags = ["localhost/imgc-shared-worker:latest"]
  copy {
    src   = "worker/main.sh"
    dest  = "/srv/worker/main.sh"
    chmod = "0755"
  }
  use "module.platform.step.service" {
    name = "worker"
    port = 9090
  }
  config {
    entrypoint = ["/usr/local/bin/run-service", "worker"]
    user       = "app"
  }
}
