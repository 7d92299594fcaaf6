variable "size" {
  type = number
  validation {
    condition     = var.size > 0
    error_message = "size is positive."
  }
}

variable "tag" {
  default = "1"
}

stage "build" {
  from = "scratch"
}

image "runtime" {
  from = stage.build
  copy {
    src  = "files/x"
    dest = "/x-${var.tag}"
  }
}

step "stamp" {
  variable "name" {
    type = string
  }
  copy {
    src  = "files/x"
    dest = var.name # ERROR: Empty dest
  }
}
