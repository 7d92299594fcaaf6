# A module that examples/shared-module's two images share: the team's
# runtime base (its CA bundle, its account) and its convention for
# installing a service, written once. Relative paths here (files/...) are
# this directory's.

variable "base" {
  description = "What the runtime starts from: a stage or image reference, or an image reference string."
}

variable "user" {
  type    = string
  default = "app"
}

image "runtime" {
  from = var.base
  copy {
    src  = "files/company-ca.pem"
    dest = "/etc/ssl/certs/company-ca.pem"
  }
  user {
    name = var.user
    uid  = 10001
  }
}

# Installs a service the team's way: the shared launcher and a config
# file naming the service and its port.
step "service" {
  variable "name" {
    type = string
    validation {
      condition     = can(regex("^[a-z][a-z0-9-]*$", var.name))
      error_message = "A service name is lower-case letters, digits and dashes, such as api."
    }
  }
  variable "port" {
    type     = number
    default  = 8080
    nullable = false
  }
  copy {
    src   = "files/run-service.sh"
    dest  = "/usr/local/bin/run-service"
    chmod = "0755"
  }
  run {
    sh = "mkdir -p /srv/${var.name} && printf 'name=${var.name}\\nport=${var.port}\\n' > /srv/${var.name}/service.conf"
  }
}
