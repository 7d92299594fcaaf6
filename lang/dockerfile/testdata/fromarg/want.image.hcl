# Converted from Dockerfile by imgc convert.

variable "VARIANT" {
  type    = string
  default = "full"
}

variable "ROOT" {
  type    = string
  default = "base"
}

variable "GPU" {
  type    = string
  default = null
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

stage "run-cpu" {
  from = "busybox"
}

stage "run-gpu-nvidia" {
  from = "busybox"
}

stage "runner" {
  from = lower("run-${var.GPU == null || var.GPU == "" ? "" : "gpu-"}${var.GPU == null || var.GPU == "" ? "cpu" : var.GPU}") == "run-cpu" ? stage.run-cpu : lower("run-${var.GPU == null || var.GPU == "" ? "" : "gpu-"}${var.GPU == null || var.GPU == "" ? "cpu" : var.GPU}") == "run-gpu-nvidia" ? stage.run-gpu-nvidia : "run-${var.GPU == null || var.GPU == "" ? "" : "gpu-"}${var.GPU == null || var.GPU == "" ? "cpu" : var.GPU}"

  run { sh = "echo runner" }
}

image "app" {
  from = lower(var.ROOT) == "base" ? stage.base : lower(var.ROOT) == "tool-full" ? stage.tool-full : lower(var.ROOT) == "tool-slim" ? stage.tool-slim : lower(var.ROOT) == "tool" ? stage.tool : lower(var.ROOT) == "run-cpu" ? stage.run-cpu : lower(var.ROOT) == "run-gpu-nvidia" ? stage.run-gpu-nvidia : lower(var.ROOT) == "runner" ? stage.runner : var.ROOT

  copy {
    src  = "/tool"
    dest = "/tool"
    from = stage.tool
  }

  copy {
    src  = "/etc/hostname"
    dest = "/runner"
    from = stage.runner
  }
}

