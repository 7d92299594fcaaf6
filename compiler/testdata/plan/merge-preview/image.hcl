# At --optimize=all adjacent runs with identical settings become one layer;
# a run with other settings, or cache = false, breaks the chain.

stage "base" {
  from = "docker.io/library/alpine:3.20"
  run {
    sh = "apk add --no-cache git"
  }
  run {
    sh = "apk add --no-cache make"
  }
  run {
    sh = "git config --global init.defaultBranch main"
  }
  run {
    sh  = "make --version"
    env = { LC_ALL = "C" }
  }
  run {
    sh    = "date > /built"
    cache = false
  }
  run {
    sh = "echo one"
  }
  run {
    sh = "echo two"
  }
}

image "app" {
  from = stage.base
  run {
    sh = "echo app"
  }
}
