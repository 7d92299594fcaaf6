# Converted from Dockerfile by imgc convert.

stage "build" {
  from    = "golang:1.23"
  workdir = "/src"

  run {
    sh = "go build ./..."
    mount "cache" {
      target  = "/root/.cache/go-build"
      id      = "gobuild"
      sharing = "locked"
    }
    mount "cache" {
      target = "/go/pkg/mod"
      mode   = "0755"
      uid    = 1000
      gid    = 1000
    }
    mount "bind" { target = "/src" }
  }

  run {
    sh      = "./use-secrets.sh"
    network = "none"
    mount "secret" {
      id       = "npmrc"
      target   = "/root/.npmrc"
      required = true
    }
    mount "secret" {
      id  = "token"
      env = "TOKEN"
    }
    mount "tmpfs" {
      target = "/tmp"
      size   = 67108864
    }
  }
}

image "app" {
  from = "alpine:3.20"

  run {
    sh = "cp /in/app /usr/local/bin/app"
    mount "bind" {
      target   = "/in"
      source   = "/src/out"
      from     = stage.build
      readonly = false
    }
  }

  run {
    sh       = "modprobe -n loop"
    network  = "none"
    security = "insecure"
  }
}

