# Converted from Dockerfile by imgc convert.

# Variables of the base image stay as written for the runtime to expand:
# in the stage that sets them against its base image, and in a stage
# built on it against that stage's image config, so PATH is not doubled.
stage "parent" {
  from = "busybox"
  env = {
    PATH    = "/opt/bin:$PATH"
    HOMEDIR = "$${HOME:-/root}"
  }

  run { sh = "echo \"$PATH\"" }
}

image "app" {
  from = stage.parent
  env  = { PATH = "/child/bin:$PATH" }

  run { sh = "echo \"$PATH\"" }
}

