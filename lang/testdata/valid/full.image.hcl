# Every block and attribute of the language, once.

variable "version" {
  type        = string
  default     = "1.4.2"
  description = "Stamped into labels"
  validation {
    condition     = can(regex("^[0-9a-z.-]+$", var.version))
    error_message = "version must be lower-case."
  }
}

variable "token_id" {
  type      = string
  default   = "npmrc"
  sensitive = true
}

locals {
  base    = "docker.io/library/golang:1.23"
  runtime = "gcr.io/distroless/static:nonroot"
  labels  = { "org.opencontainers.image.version" = var.version }
}

stage "build" {
  from     = local.base
  platform = "linux/amd64"
  env      = { CGO_ENABLED = "0", GOFLAGS = "-trimpath" }
  workdir  = "/src"
  user     = "root"
  shell    = ["/bin/bash", "-c"]
  optimize = "all"

  copy {
    src     = ["go.mod", "go.sum"]
    dest    = "./"
    exclude = ["**/*_test.go"]
    chown   = "1000:1000"
    chmod   = "0644"
    link    = true
    parents = true
  }

  run {
    sh      = ["go mod download", "go build -o /out/app ./cmd/app"]
    env     = { GOCACHE = "/root/.cache/go-build" }
    workdir = "/src/cmd"
    user    = "builder"
    shell   = ["/bin/sh", "-ec"]
    network = "none"
    mount "cache" {
      target  = "/root/.cache/go-build"
      id      = "gobuild"
      sharing = "locked"
      mode    = "0700"
      uid     = 1000
      gid     = 1000
    }
    mount "secret" {
      id       = var.token_id
      target   = "/root/.npmrc"
      required = true
    }
    mount "secret" {
      id  = "api"
      env = "API_TOKEN"
    }
    mount "ssh" {
    }
    mount "ssh" {
      id       = "deploy"
      target   = "/run/deploy.sock"
      required = true
      mode     = "0660"
      uid      = 1000
    }
    mount "bind" {
      from   = stage.assets
      source = "/out"
      target = "/in"
    }
    mount "tmpfs" {
      target = "/tmp"
      size   = "64m"
    }
    cache     = false
    cache_key = "v2"
    reads     = ["/src/go.mod"]
    writes    = ["/out"]
  }

  run {
    exec = ["/out/app", "--version"]
  }

  add {
    url      = "https://example.com/tool.tar.gz"
    checksum = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    dest     = "/opt/tool/"
    chown    = "0:0"
    chmod    = "0755"
  }

  add {
    url  = "https://example.com/unpinned.txt"
    dest = "/opt/unpinned.txt"
  }
  add {
    git          = "https://example.com/org/repo.git"
    ref          = "v1.2"
    subdir       = "docs"
    keep_git_dir = true
    submodules   = false
    dest         = "/src/"
  }
  add {
    git  = "git@example.com:org/repo.git"
    dest = "/repo/"
  }
  add {
    src     = "vendor.tar.gz"
    dest    = "/opt/vendor/"
    extract = true
    link    = true
    exclude = "docs/**"
  }
}

stage "assets" {
  from = "scratch"
  copy {
    src  = "static"
    dest = "/out/"
  }
  mkdir {
    path = "/srv/data"
    user = "1000:1000"
  }
  mkdir {
    path = "cache"
  }
  run {
    script      = "#!/bin/sh\necho hi\n"
    script_name = "hello"
    security    = "insecure"
  }
}

image "app" {
  from        = local.runtime
  tags        = ["registry.example.com/app:${var.version}", "registry.example.com/app:latest"]
  annotations = { "org.opencontainers.image.source" = "https://example.com/app" }
  cache_from  = ["type=registry,ref=registry.example.com/app:buildcache"]
  cache_to    = "type=registry,ref=registry.example.com/app:buildcache,mode=max"

  layer "binaries" {
    copy {
      from = stage.build
      src  = ["/out/app"]
      dest = "/app"
    }
    copy {
      from = "docker.io/library/busybox:1.36"
      src  = "/bin/busybox"
      dest = "/bin/"
    }
  }

  config {
    entrypoint  = ["/app"]
    cmd         = []
    env         = { TZ = "UTC" }
    user        = "65532:65532"
    workdir     = "/"
    labels      = merge(local.labels, { "dropped" = null })
    expose      = [8080, "53/udp", "9000-9010/tcp"]
    volumes     = ["/data"]
    stop_signal = "SIGTERM"
    onbuild     = ["RUN echo hi"]
    author      = "Jane Doe <jane@example.com>"
    shell       = ["/bin/sh", "-c"]
    healthcheck {
      test           = ["CMD", "/app", "health"]
      interval       = "30s"
      timeout        = "5s"
      start_period   = "10s"
      start_interval = "1s"
      retries        = 3
    }
  }
}
