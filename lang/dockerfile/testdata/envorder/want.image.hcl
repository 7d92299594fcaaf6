# Converted from Dockerfile by imgc convert.

# Every word of one ENV expands against the environment from before it.
image "app" {
  from = "scratch"
  env = {
    A = "2"
    B = "1"
    C = "1-c"
  }

  copy {
    src  = "a"
    dest = "/"
  }

  config {
    env = {
      A = "3"
      D = "2"
    }
  }
}

