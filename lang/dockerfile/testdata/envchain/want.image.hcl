# Converted from Dockerfile by imgc convert.

# ENV chained through a variable only the base image sets.
image "app" {
  from = "busybox"
  env  = { PATH = "/x:$PATH" }

  run { sh = "true" }

  run {
    sh  = "echo $PATH"
    env = { PATH = "/y:$PATH" }
  }

  config { env = { PATH = "/z:/y:$PATH" } }
}

