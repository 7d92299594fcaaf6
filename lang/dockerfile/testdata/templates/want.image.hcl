# Converted from Dockerfile by imgc convert.

variable "REGISTRY" {
  type    = string
  default = "docker.io/library"
}

variable "DIR" {
  description = "ARG DIR of stage base"
  type        = string
  default     = "app"
}

variable "UID" {
  description = "ARG UID of stage base"
  type        = string
  default     = "1000"
}

variable "PORT" {
  description = "ARG PORT of stage base"
  type        = string
  default     = "8080"
}

image "base" {
  from    = "${var.REGISTRY}/alpine:3.20"
  workdir = "/srv/${var.DIR}"

  mkdir { path = "/srv" }

  copy {
    src  = "config.txt"
    dest = "/srv/${var.DIR}/${var.DIR}-config/"
  }

  run {
    sh = "adduser -D -u $UID app"
    env = {
      DIR  = var.DIR
      UID  = var.UID
      PORT = var.PORT
    }
  }

  mkdir {
    path = "/srv/${var.DIR}/data"
    user = var.UID
  }

  run {
    sh = "touch ok"
    env = {
      DIR  = var.DIR
      UID  = var.UID
      PORT = var.PORT
    }
    workdir = "/srv/${var.DIR}/data"
    user    = var.UID
    mount "cache" { target = "/cache/${var.DIR}" }
  }

  config {
    user    = var.UID
    workdir = "/srv/${var.DIR}/data"
    labels = {
      "dir" = var.DIR
    }
    expose = ["${var.PORT}/tcp", "9000/tcp", "9001/tcp"]
  }
}

