# Converted from Dockerfile by imgc convert.

# A stage built on another runs that stage's ONBUILD triggers first.
stage "parent" {
  from = "busybox"

  config {
    onbuild = [
      "RUN echo triggered > /trigger.txt",
      "COPY ctx.txt /from-trigger/",
      "ENV TRIGGERED=yes",
    ]
  }
}

image "app" {
  from = stage.parent

  run { sh = "echo triggered > /trigger.txt" }

  copy {
    src  = "ctx.txt"
    dest = "/from-trigger/"
  }

  run {
    sh  = "echo \"$TRIGGERED\" > /child.txt"
    env = { TRIGGERED = "yes" }
  }

  config { env = { TRIGGERED = "yes" } }
}

