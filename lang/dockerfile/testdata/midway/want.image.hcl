# Converted from Dockerfile by imgc convert.

image "app" {
  from    = "debian:bookworm"
  env     = { A = "1" }
  workdir = "/work"

  run { sh = "echo first" }

  mkdir { path = "/work/sub" }

  run {
    sh = "echo second"
    env = {
      A = "2"
      B = "3"
    }
    workdir = "/work/sub"
    user    = "nobody"
    shell   = ["/bin/bash", "-o", "pipefail", "-c"]
  }

  copy {
    src  = "file.txt"
    dest = "/work/sub/"
  }

  config {
    entrypoint = ["/bin/bash", "-o", "pipefail", "-c", "/entry.sh"]
    cmd        = ["/bin/bash", "-o", "pipefail", "-c", "echo \"$A\" | cat"]
    env = {
      A = "2"
      B = "3"
    }
    user    = "nobody"
    workdir = "/work/sub"
    shell   = ["/bin/bash", "-o", "pipefail", "-c"]
  }
}

