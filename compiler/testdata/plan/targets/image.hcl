# --target selects a stage: it becomes an output and the image is not
# built.

stage "base" {
  from = "docker.io/library/alpine:3.20"
  run {
    sh = "apk add --no-cache ca-certificates"
  }
}

stage "debug" {
  from = stage.base
  run {
    sh = "apk add --no-cache strace"
  }
}

image "app" {
  from = stage.base
}
