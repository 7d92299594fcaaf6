# A static site served by busybox httpd as an unprivileged user. It builds
# offline on the busybox base image (go run ./internal/cmd/mkbase
# .cache/base/busybox from the repository root makes it).

variable "base" {
  type        = string
  default     = "oci:../../.cache/base/busybox:latest"
  description = "The base image: anything with busybox httpd (busybox, alpine)."
}

variable "port" {
  type    = number
  default = 8080
}

image "static-site" {
  from = var.base
  tags = ["localhost/imgc-static-site:latest"]

  # The server's account, in its own layer: it changes least.
  user {
    name  = "www"
    uid   = 10080
    home  = "/var/www"
    shell = "/bin/false"
  }

  copy {
    src  = "httpd.conf"
    dest = "/etc/httpd.conf"
  }

  # The site changes most, so it comes last: editing a page rebuilds only
  # this layer. Read-only for the server.
  copy {
    src   = "site/"
    dest  = "/srv/www/"
    chown = "0:0"
  }

  config {
    entrypoint = ["/bin/busybox", "httpd", "-f", "-v", "-p", tostring(var.port), "-h", "/srv/www", "-c", "/etc/httpd.conf"]
    user       = "www"
    expose     = ["${var.port}/tcp"]
    labels = {
      "org.opencontainers.image.title"       = "static-site"
      "org.opencontainers.image.description" = "A static site served by busybox httpd"
    }
    healthcheck {
      test     = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:${var.port}/"]
      interval = "30s"
      timeout  = "3s"
      retries  = 3
    }
  }
}
