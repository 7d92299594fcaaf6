# Converted from Dockerfile by imgc convert.

variable "GO_VERSION" {
  type    = string
  default = null
}

variable "KIND" {
  type    = string
  default = null
}

variable "A" {
  type    = string
  default = null
}

variable "B" {
  type    = string
  default = null
}

variable "X" {
  type    = string
  default = null
}

locals {
  GO_VERSION_1     = var.GO_VERSION != null ? var.GO_VERSION : "1.21"
  GO_VERSION       = var.GO_VERSION != null ? var.GO_VERSION : "${local.GO_VERSION_1}.5"
  KIND_1           = var.KIND != null ? var.KIND : "plain"
  KIND             = var.KIND != null ? var.KIND : "${local.KIND_1 == "" ? "" : "with-${local.KIND_1}"}"
  A_1              = var.A != null ? var.A : "1"
  B                = var.B != null ? var.B : local.A_1
  A                = var.A != null ? var.A : "2"
  GO_VERSION_other = var.GO_VERSION != null ? var.GO_VERSION : "${local.GO_VERSION}-x"
  X_other          = var.X != null ? var.X : "1"
  X_other_2        = var.X != null ? var.X : "${local.X_other}.2"
  X_other_3        = var.X != null ? var.X : "${local.X_other_2}.3"
}

# An ARG redefined from itself: each definition reads the one before.
stage "first" {
  from = "busybox"

  run {
    sh = "echo $GO_VERSION $KIND $A $B"
    env = {
      GO_VERSION = local.GO_VERSION
      KIND       = local.KIND
      A          = local.A
      B          = local.B
    }
  }
}

image "other" {
  from = stage.first

  run {
    sh = "echo $GO_VERSION $X"
    env = {
      GO_VERSION = local.GO_VERSION_other
      KIND       = local.KIND
      A          = local.A
      B          = local.B
      X          = local.X_other_3
    }
  }
}

