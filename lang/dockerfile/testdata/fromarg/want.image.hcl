# Converted from Dockerfile by imgc convert.

variable "VARIANT" {
  type    = string
  default = "full"
}

variable "ROOT" {
  type    = string
  default = "base"
}

# FROM with an ARG names a stage for one value and an image for another.
stage "base" {
  from = "busybox"

  run { sh = "echo base > /base" }
}

stage "tool-full" {
  from = stage.base

  run { sh = "echo full > /tool" }
}

stage "tool-slim" {
  from = "busybox"

  run { sh = "echo slim > /tool" }
}

stage "tool" {
  from = lower("tool-${var.VARIANT}") == "tool-full" ? stage.tool-full : lower("tool-${var.VARIANT}") == "tool-slim" ? stage.tool-slim : "tool-${var.VARIANT}"

  run { sh = "echo tool" }
}

image "app" {
  from = lower(var.ROOT) == "base" ? stage.base : lower(var.ROOT) == "tool-full" ? stage.tool-full : lower(var.ROOT) == "tool-slim" ? stage.tool-slim : lower(var.ROOT) == "tool" ? stage.tool : var.ROOT

  copy {
    src  = "/tool"
    dest = "/tool"
    from = stage.tool
  }
}

