# Converted from Dockerfile by imgc convert.

variable "V" {
  description = "ARG V of stages a, b, app, each with its own default"
  type        = string
  default     = null
}

locals {
  V_a = var.V != null ? var.V : "1"
  V_b = var.V != null ? var.V : "2"
}

# One ARG, declared by three stages with different defaults: one
# --build-arg V sets it in all three, so the conversion has one variable.
stage "a" {
  from = "alpine:3.20"

  run {
    sh  = "echo \"a $V\" > /a"
    env = { V = local.V_a }
  }
}

stage "b" {
  from = "alpine:3.20"

  run {
    sh  = "echo \"b $V\" > /b"
    env = { V = local.V_b }
  }
}

image "app" {
  from = "alpine:3.20"

  copy {
    src  = "/a"
    dest = "/a"
    from = stage.a
  }

  copy {
    src  = "/b"
    dest = "/b"
    from = stage.b
  }

  run {
    sh  = "echo \"$${V:-none}\""
    env = { V = var.V }
  }
}

