# A directory configuration: declarations in one file, stages in another.

variable "base" {
  default = "docker.io/library/debian:bookworm-slim"
}

locals {
  tag = "example.com/multi:1"
}
