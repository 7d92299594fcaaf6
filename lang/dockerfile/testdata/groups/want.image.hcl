# Converted from Dockerfile by imgc convert.

variable "REF" {
  description = "ARG REF of stage build"
  type        = string
  default     = "main"
}

## A title comment, kept as written.

# A comment block separated by a blank line.
stage "build" {
  from = "alpine:3.20"

  steps {
    env = { REF = var.REF }

    run { sh = "git clone --branch=$${REF} https://example.com/repo.git /src" }

    run { sh = "echo one" }

    #
    # After an empty comment line.
    steps {
      workdir = "/src"

      run { sh = "make deps" }

      copy {
        src  = "conf"
        dest = "/src/conf"
      }

      run { sh = "make" }

      run {
        sh = [
          "(cd sub && make)",
          "make install",
        ]
      }
    }

    run {
      sh      = "make check"
      workdir = "/src/sub"
    }

    run {
      sh      = "make dist"
      workdir = "/src"
    }
  }

  config { workdir = "/src" }
}

image "app" {
  from    = "alpine:3.20"
  workdir = "/app"

  copy {
    src  = "/src/dist"
    dest = "/app/"
    from = stage.build
  }

  run { sh = "echo a" }

  run { sh = "echo b" }

  config { entrypoint = ["/app/run"] }
}

# Trailing comment.
