# Converted from Dockerfile by imgc convert.

variable "G_Q" {
  type    = string
  default = "1"
}

variable "X_Y" {
  description = "ARG X\"Y of stage app"
  type        = string
  default     = "1"
}

variable "X__Y_" {
  description = "ARG X$${Y} of stage app"
  type        = string
  default     = "2"
}

variable "P__Q" {
  description = "ARG P%%{Q of stage app"
  type        = string
  default     = "3"
}

variable "B__S" {
  description = "ARG B\\\\S of stage app"
  type        = string
  default     = "4"
}

# Inputs that once crashed imgc or made convert write invalid HCL.
image "app" {
  from = "busybox"

  # check=skip=all
  # check=skip=JSONArgsRecommended
  run {
    sh = "echo \"$B\""
    env = {
      "X\"Y"   = var.X_Y
      "X$${Y}" = var.X__Y_
      "P%%{Q"  = var.P__Q
      "B\\\\S" = var.B__S
    }
  }
}

