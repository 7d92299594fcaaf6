# Layer blocks, env overrides, relative workdirs, exec form, shells and
# networks.

image "tools" {
  from    = "docker.io/library/debian:bookworm-slim@sha256:2424c1850714a4d94666ec928e24d86de958646737b1d113f5b2207be44d37d8"
  env     = { LANG = "C.UTF-8", DEBIAN_FRONTEND = "noninteractive" }
  workdir = "/opt"
  user    = "root"
  shell   = ["/bin/bash", "-eo", "pipefail", "-c"]

  layer "packages" {
    run {
      sh = ["apt-get update", "apt-get install -y --no-install-recommends curl jq"]
      mount "cache" {
        target  = "/var/cache/apt"
        sharing = "locked"
      }
    }
    run {
      sh = "rm -rf /var/lib/apt/lists/*"
    }
  }

  run {
    exec    = ["/usr/bin/env", "true"]
    env     = { LANG = "C", EXTRA = "1" }
    workdir = "tools"
    network = "none"
  }

  run {
    sh        = "curl -fsSL https://example.com/install.sh | sh"
    user      = "nobody"
    network   = "host"
    cache     = false
    cache_key = "2024-06"
    shell     = ["/bin/sh", "-c"]
    mount "secret" {
      id     = "token"
      target = "/run/secrets/token"
    }
    mount "tmpfs" {
      target = "/tmp"
    }
  }

  copy {
    src   = "tool.sh"
    dest  = "bin/"
    chmod = "0755"
    chown = "1000:1000"
  }

  add {
    url      = "https://example.com/tool.tar.gz"
    checksum = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    dest     = "/opt/tool/"
    extract  = true
  }

  config {
    cmd = ["bash"]
    env = { LANG = "en_US.UTF-8", TZ = "UTC" }
  }
}
