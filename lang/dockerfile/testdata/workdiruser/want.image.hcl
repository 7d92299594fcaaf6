# Converted from Dockerfile by imgc convert.

variable "U" {
  description = "ARG U of stage app"
  type        = string
  default     = "app"
}

# WORKDIR as USER ${U}: whether a RUN would make the directory the same way
# depends on U's value (a bare uid differs), so the mkdir step stays.
image "app" {
  from    = "busybox"
  workdir = "/work"
  user    = var.U

  mkdir {
    path = "/work"
    user = var.U
  }

  run {
    sh  = "true"
    env = { U = var.U }
  }
}

