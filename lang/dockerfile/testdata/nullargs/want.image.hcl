# Converted from Dockerfile by imgc convert.

variable "VERSION" {
  type    = string
  default = null
}

variable "GOPROXY" {
  type    = string
  default = "direct"
}

variable "COMMIT" {
  description = "ARG COMMIT of stage app"
  type        = string
  default     = null
}

# ARGs without a default are variables that default to null: Docker leaves
# them unset, which RUN sees, and empty where a word expands them.
image "app" {
  from = "alpine:3.20"

  run {
    sh = "echo \"$VERSION $COMMIT\""
    env = {
      VERSION = var.VERSION
      GOPROXY = var.GOPROXY
      COMMIT  = var.COMMIT
    }
  }

  run {
    sh = "echo $GOPROXY"
    env = {
      VERSION = var.VERSION
      GOPROXY = var.GOPROXY
      COMMIT  = var.COMMIT
    }
  }

  config {
    env = {
      GOPROXY = var.GOPROXY
    }
    labels = {
      "commit"  = "c-${var.COMMIT != null ? var.COMMIT : ""}"
      "version" = "${var.VERSION != null ? var.VERSION : ""}"
    }
  }
}

