# Variable sources, lowest to highest precedence: default, IMGC_VAR_*,
# --var-file, --var.
# OPTION env IMGC_VAR_from_env=env
# OPTION env IMGC_VAR_overridden=env
# OPTION env IMGC_VAR_ports=[80,443]
# OPTION env IMGC_VAR_from_file=["env"]
# OPTION env IMGC_VAR_not_declared=ignored
# OPTION env UNRELATED=x
# OPTION --var-file vars.vars.hcl
# OPTION --var overridden=cli
# OPTION --var replicas=3
# OPTION --var flags={debug=true}

variable "from_default" {
  default = "default"
}

variable "from_env" {
  type = string
}

variable "overridden" {
  type    = string
  default = "default"
}

variable "from_file" {
  type = list(string)
}

variable "ports" {
  type = list(number)
}

variable "replicas" {
  type = number
}

variable "flags" {
  type = object({
    debug = bool
    level = optional(string, "info")
  })
}

locals {
  summary = "${var.from_default}/${var.from_env}/${var.overridden}"
  nested  = upper(local.summary)
}

image "vars" {
  from = "docker.io/library/alpine:3.20"
  env  = { LEVEL = var.flags.level }

  run {
    sh = "echo ${local.nested} ${join(",", var.from_file)}"
  }

  run {
    sh = "echo ${var.replicas} ${jsonencode(var.ports)}"
  }

  run {
    sh = "echo constant"
  }
}
