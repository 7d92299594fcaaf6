# Converted from Dockerfile by imgc convert.

variable "GREETING" {
  description = "ARG GREETING of stage app"
  type        = string
  default     = "hi"
}

image "app" {
  from = "alpine:3.20"

  run {
    sh = <<-EOT
      set -e
      echo "$${HOME}" %%{x}
    EOT
  }

  run {
    sh = <<-EOT
      echo tabs stripped
      echo nested
    EOT
  }

  run { sh = "cat <<EOF > /etc/motd\nhello $USER\nEOF" }

  copy {
    content = <<-EOT
      #!/bin/sh
      echo hello
    EOT
    name    = "EOF"
    dest    = "/usr/local/bin/hello"
    chmod   = "755"
  }

  run {
    script = <<-EOT
      #!/usr/bin/env python3
      print("$${not_hcl}")
    EOT
  }

  run {
    script      = <<-EOT
      #!/usr/bin/python3
      print(1)
    EOT
    script_name = "PY"
  }

  copy {
    content = "${var.GREETING}, world: \"quoted\" $HOME\n"
    name    = "EOF"
    dest    = "/etc/greeting"
  }

  layer "line-29" {
    copy {
      content = <<-EOT
        a
      EOT
      name    = "A"
      dest    = "/etc/pair/"
      chown   = "1000:1000"
      link    = true
    }

    copy {
      content = "b ${var.GREETING} ${var.GREETING == "" ? "none" : var.GREETING}\n"
      name    = "B"
      dest    = "/etc/pair/"
      chown   = "1000:1000"
      link    = true
    }
  }

  copy {
    content = <<-EOT
      kept: $GREETING
    EOT
    name    = "EOF"
    dest    = "/etc/added.tar"
  }

  copy {
    content = <<-EOT
      relative
    EOT
    name    = "EOF"
    dest    = "greeting"
  }
}

