# dynamic blocks generate steps in place, in document order.

variable "tools" {
  type    = map(string)
  default = { jq = "1.7", yq = "4.40" }
}

variable "caches" {
  type    = list(string)
  default = ["/root/.cache/a", "/root/.cache/b"]
}

image "tools" {
  from = "docker.io/library/alpine:3.20"

  run {
    sh = "echo first"
  }

  dynamic "run" {
    for_each = var.tools
    iterator = tool
    content {
      sh  = "install ${tool.key}@${tool.value}"
      env = { TOOL = tool.key }
      dynamic "mount" {
        for_each = var.caches
        labels   = ["cache"]
        content {
          target = mount.value
        }
      }
    }
  }

  dynamic "copy" {
    for_each = ["a.conf", "b.conf"]
    content {
      src  = copy.value
      dest = "/etc/${copy.value}"
    }
  }

  run {
    exec = ["echo", "last"]
  }
}
