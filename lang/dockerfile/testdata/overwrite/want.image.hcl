# Converted from Dockerfile by imgc convert.

variable "V" {
  description = "ARG V of stage app"
  type        = string
  default     = "3"
}

# A value set from an ARG, then set again to a literal in the same stage:
# the conversion writes the literal, not the ARG's variable.
image "app" {
  from    = "busybox"
  env     = { P = "lit" }
  workdir = "/b"
  user    = "u${var.V}"

  mkdir { path = "/x/${var.V}" }

  mkdir { path = "/b" }

  copy {
    content = <<-EOT
      hello
    EOT
    name    = "EOT"
    dest    = "/hello"
  }

  run {
    sh  = "echo $P"
    env = { V = var.V }
  }

  config {
    labels = {
      "a" = "lit"
    }
    stop_signal = "SIGTERM"
  }
}

