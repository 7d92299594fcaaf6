# A Go service: dependencies first, then the sources; the test stage is
# never used by the image, so prune drops it.

variable "version" {
  type    = string
  default = "1.4.2"
}

stage "build" {
  from    = "golang:1.23"
  env     = { CGO_ENABLED = "0" }
  workdir = "/src"

  copy {
    src  = ["go.mod", "go.sum"]
    dest = "./"
  }

  run {
    sh = "go mod download"
    mount "cache" {
      target = "/root/go/pkg/mod"
    }
  }

  copy {
    src  = "."
    dest = "."
  }

  run {
    sh  = "go build -ldflags=-X=main.version=${var.version} -o /out/app ."
    env = { CGO_ENABLED = "1" }
  }
}

stage "test" {
  from = stage.build
  run {
    sh = "go test ./..."
  }
}

image "app" {
  from = "scratch"
  tags = ["registry.example.com/app:${var.version}"]

  copy {
    from = stage.build
    src  = "/out/app"
    dest = "/app"
  }

  config {
    entrypoint = ["/app"]
    labels     = { "org.opencontainers.image.version" = var.version }
  }
}
