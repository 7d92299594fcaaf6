# Converted from Dockerfile by imgc convert.

variable "BUILDPLATFORM" {
  description = "BuildKit's automatic BUILDPLATFORM; defaults to the platform imgc convert ran for"
  type        = string
  default     = "linux/amd64"
}

variable "TARGETOS" {
  description = "BuildKit's automatic TARGETOS; defaults to the platform imgc convert ran for"
  type        = string
  default     = "linux"
}

variable "TARGETARCH" {
  description = "BuildKit's automatic TARGETARCH; defaults to the platform imgc convert ran for"
  type        = string
  default     = "amd64"
}

stage "build" {
  from     = "golang:1.23"
  platform = var.BUILDPLATFORM

  run {
    sh = "GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app ."
    env = {
      TARGETOS   = var.TARGETOS
      TARGETARCH = var.TARGETARCH
    }
  }
}

image "app" {
  from     = "alpine:3.20"
  platform = "linux/arm64"

  copy {
    src  = "/out/app"
    dest = "/app"
    from = stage.build
  }
}

