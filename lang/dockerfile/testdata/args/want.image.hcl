# Converted from Dockerfile by imgc convert.

variable "BASE" {
  type    = string
  default = "debian"
}

variable "TAG" {
  type    = string
  default = "bookworm-slim"
}

variable "VERSION" {
  type    = string
  default = null
}

variable "PREFIX" {
  description = "ARG PREFIX of stage app"
  type        = string
  default     = null
}

variable "EMPTY" {
  description = "ARG EMPTY of stage app"
  type        = string
  default     = null
}

locals {
  PREFIX = var.PREFIX != null ? var.PREFIX : "/opt/${var.TAG}"
}

image "app" {
  from = "${var.BASE}:${var.TAG}"
  env = {
    APP_HOME = "${local.PREFIX == "" ? "/srv" : local.PREFIX}/app"
    SUFFIX   = "${var.EMPTY == null || var.EMPTY == "" ? "" : "set"}"
  }

  run {
    sh = "echo \"$PREFIX $TAG\""
    env = {
      TAG    = var.TAG
      PREFIX = local.PREFIX
      EMPTY  = var.EMPTY
    }
  }

  copy {
    src  = "app.tar"
    dest = "${local.PREFIX == "" ? "/srv" : local.PREFIX}/app/"
  }

  run {
    sh = "echo $APP_HOME"
    env = {
      TAG    = var.TAG
      PREFIX = local.PREFIX
      EMPTY  = var.EMPTY
    }
  }
}

