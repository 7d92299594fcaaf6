# Converted from Dockerfile by imgc convert.

stage "build" {
  from    = "golang:1.23"
  workdir = "/src"

  copy {
    src  = "."
    dest = "/src/"
  }

  run { sh = "go build -o /out/app ." }
}

stage "test" {
  from = stage.build

  run { sh = "go test ./..." }
}

image "app" {
  from = "alpine:3.20"

  copy {
    src  = "/out/app"
    dest = "/usr/local/bin/app"
    from = stage.build
  }

  copy {
    src  = "/src/README.md"
    dest = "/doc/"
    from = stage.build
  }

  copy {
    src  = "/bin/busybox"
    dest = "/bin/busybox"
    from = "busybox:1.36"
  }

  config { cmd = ["app"] }
}

