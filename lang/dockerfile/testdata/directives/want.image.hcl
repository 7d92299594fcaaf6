# Converted from Dockerfile by imgc convert.

image "app" {
  from = "alpine:3.20"
  env = {
    GREETING = "hello world"
    WIN_PATH = "C:\\\\tools"
  }

  # Legacy ENV form.
  run {
    sh = [
      "echo one",
      "echo two",
    ]
  }
}

# trailing comment
