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

  # ${X:-d} and ${X:+y} stay choices on the variable.
  run {
    sh = "echo $GOPROXY"
    env = {
      VERSION = var.VERSION
      GOPROXY = "${var.GOPROXY == "" ? "direct" : var.GOPROXY}"
      COMMIT  = var.COMMIT
      REF     = "${var.COMMIT == null || var.COMMIT == "" ? "${var.VERSION == null || var.VERSION == "" ? "dev" : var.VERSION}" : var.COMMIT}"
    }
  }

  config {
    env = {
      GOPROXY = "${var.GOPROXY == "" ? "direct" : var.GOPROXY}"
      REF     = "${var.COMMIT == null || var.COMMIT == "" ? "${var.VERSION == null || var.VERSION == "" ? "dev" : var.VERSION}" : var.COMMIT}"
      QUOTED  = "direct"
      SINGLE  = "$$${GOPROXY:-x}"
      CUT     = "direct"
    }
    labels = {
      "commit"  = "c-${var.COMMIT != null ? var.COMMIT : ""}"
      "tag"     = "${var.VERSION == null || var.VERSION == "" ? "" : "v${var.VERSION != null ? var.VERSION : ""}"}"
      "version" = "${var.VERSION != null ? var.VERSION : ""}"
    }
  }
}

