# The offline example that the README's first command builds: a tiny
# greeting service on a busybox base made from the host's busybox-static.

variable "base" {
  type        = string
  default     = "oci:../../.cache/base/busybox:latest"
  description = "The base image: a busybox OCI layout (make demo creates it)."
}

variable "greeting" {
  type    = string
  default = "Hello from imgc"
}

image "hello" {
  from    = var.base
  tags    = ["localhost/imgc-hello:latest"]
  workdir = "/app"

  # Copied first: the script changes more often than the data it reads.
  copy {
    src  = ["app/words.txt"]
    dest = "/app/"
  }

  copy {
    src   = "app/hello.sh"
    dest  = "/app/hello.sh"
    chmod = "0755"
  }

  # One layer: the index is built and the scratch file never reaches the image.
  layer "index" {
    run {
      sh = [
        "wc -l < words.txt > /tmp/count",
        "echo \"$(cat /tmp/count) words\" > /app/index.txt",
        "rm /tmp/count",
      ]
    }
  }

  config {
    entrypoint = ["/app/hello.sh"]
    cmd        = ["world"]
    env        = { GREETING = var.greeting }
    labels = {
      "org.opencontainers.image.title" = "hello"
    }
  }
}
