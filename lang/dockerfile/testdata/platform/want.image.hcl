# Converted from Dockerfile by imgc convert.

stage "build" {
  from     = "golang:1.23"
  platform = platform.build

  run {
    sh = "GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app ."
    env = {
      TARGETOS   = platform.os
      TARGETARCH = platform.arch
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

