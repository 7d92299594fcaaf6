# Converted from Dockerfile by imgc convert.

image "app" {
  from = "alpine:3.20"
  env = {
    LANG = "C.UTF-8"
    TZ   = "UTC"
  }
  workdir = "/app"
  user    = "1000:1000"

  mkdir { path = "/app" }

  # Install the tools.
  run {
    sh = [
      "apk add --no-cache curl",
      "curl --version",
    ]
  }

  run { exec = ["/bin/echo", "exec form"] }

  copy {
    src  = ["go.mod", "go.sum"]
    dest = "/app/"
  }

  copy {
    src  = "."
    dest = "/app/"
  }

  config {
    entrypoint = ["/app/server"]
    cmd        = ["--port", "8080"]
    labels = {
      "org.opencontainers.image.title" = "basic"
      "version"                        = "1"
    }
    expose = ["8080/tcp"]
  }
}

