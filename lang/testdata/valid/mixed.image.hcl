# A conditional may choose between a stage reference and an image
# reference string: the string is the image, as in `from = "busybox"`.
variable "local_tools" {
  type    = bool
  default = true
}

variable "base" {
  type    = string
  default = "tools"
}

image "tools" {
  from = "scratch"
}

image "app" {
  from = var.local_tools ? image.tools : "busybox"
}

image "other" {
  from = var.base == "tools" ? image.tools : var.base
  copy {
    from = var.local_tools ? "docker.io/library/alpine:3.20" : stage.tools2
    src  = "/bin/busybox"
    dest = "/bin/"
  }
}

stage "tools2" {
  from = "scratch"
}
