# Copies and mounts from image references and stages; oci and registry
# bases; a pinned digest from the lock file.

stage "tools" {
  from = "quay.io/example/tools:v1"
  run {
    sh = "make -C /src"
    mount "bind" {
      from   = "docker.io/library/golang:1.23"
      source = "/usr/local/go"
      target = "/usr/local/go"
    }
  }
}

image "app" {
  from = "gcr.io/distroless/static:nonroot"
  copy {
    from = "docker.io/library/busybox:1.36"
    src  = "/bin/busybox"
    dest = "/bin/"
  }
  copy {
    from = stage.tools
    src  = ["/out/a", "/out/b"]
    dest = "/usr/local/bin/"
  }
  run {
    exec = ["/bin/busybox", "true"]
    mount "bind" {
      source = "conf"
      target = "/conf"
    }
  }
}
