# Converted from Dockerfile by imgc convert.

image "app" {
  from = "alpine:3.20"

  copy {
    src   = "config/"
    dest  = "/etc/app/"
    chown = "1000:1000"
    chmod = "0644"
    link  = true
  }

  copy {
    src     = "src/"
    dest    = "/work/"
    exclude = ["*.md", "**/testdata"]
    parents = true
  }

  add {
    src     = "rootfs.tar.gz"
    dest    = "/"
    extract = true
  }

  add {
    src  = "archive.tar"
    dest = "/opt/"
  }

  add {
    url      = "https://example.com/tool.tar.gz"
    checksum = "sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d"
    dest     = "/opt/tool/"
  }
}

