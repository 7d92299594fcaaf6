# A Go service built in a golang stage with module and build caches, shipped
# in an image FROM scratch that holds the static binary, CA certificates
# and an account, and runs as that account. Needs a registry for the golang
# image.

variable "golang" {
  type    = string
  default = "docker.io/library/golang:1.23-bookworm"
}

variable "version" {
  type    = string
  default = "dev"
}

stage "build" {
  from = var.golang

  # The account the service runs as; its passwd and group lines are copied
  # into the final image, which has no shell to create it. First: it
  # changes least.
  user {
    name  = "app"
    uid   = 10001
    home  = "/nonexistent"
    shell = "/usr/sbin/nologin"
  }

  # go.mod and go.sum alone, then `go mod download` into the go-mod cache
  # mount: editing a .go file does not download modules again.
  go_mod_download {
    dir = "/src"
  }

  copy {
    src  = "*.go"
    dest = "/src/"
  }

  # Static (CGO_ENABLED=0), with the same module cache and the build cache
  # mounted: a rebuild recompiles only the packages that changed.
  go_build {
    dir     = "/src"
    output  = "/out/server"
    ldflags = "-s -w -X main.version=${var.version}"
  }
}

image "go-service" {
  from = "scratch"
  tags = ["localhost/imgc-go-service:${var.version}"]

  copy {
    from = stage.build
    src  = "/etc/ssl/certs/ca-certificates.crt"
    dest = "/etc/ssl/certs/"
  }

  copy {
    from = stage.build
    src  = ["/etc/passwd", "/etc/group"]
    dest = "/etc/"
  }

  copy {
    from = stage.build
    src  = "/out/server"
    dest = "/server"
  }

  config {
    entrypoint = ["/server"]
    user       = "10001:10001"
    expose     = ["8080/tcp"]
    labels = {
      "org.opencontainers.image.title"   = "go-service"
      "org.opencontainers.image.version" = var.version
    }
  }
}
