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
  default     = "/opt/bookworm-slim"
}

variable "EMPTY" {
  description = "ARG EMPTY of stage app"
  type        = string
  default     = null
}

image "app" {
  from = "${var.BASE}:${var.TAG}"
  env = {
    APP_HOME = "${var.PREFIX == "" ? "/srv" : var.PREFIX}/app"
    SUFFIX   = "${var.EMPTY == null || var.EMPTY == "" ? "" : "set"}"
  }

  run {
    sh = "echo \"$PREFIX $TAG\""
    env = {
      TAG    = var.TAG
      PREFIX = var.PREFIX
      EMPTY  = var.EMPTY
    }
  }

  copy {
    src  = "app.tar"
    dest = "${var.PREFIX == "" ? "/srv" : var.PREFIX}/app/"
  }

  run {
    sh = "echo $APP_HOME"
    env = {
      TAG    = var.TAG
      PREFIX = var.PREFIX
      EMPTY  = var.EMPTY
    }
  }
}

