# Converted from Dockerfile by imgc convert.

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

  run {
    sh = <<-EOT
      mkdir -p /usr/local/bin
      cat > /usr/local/bin/hello <<'IMGC_EOF'
      #!/bin/sh
      echo hello
      IMGC_EOF
      chmod 755 /usr/local/bin/hello
    EOT
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
}

