image "app" {
  from = stage.base
  tags = [local.tag]
  copy {
    from = image.other
    src  = "/etc/os-release"
    dest = "/etc/"
  }
}

stage "base" {
  from = var.base
  apt_install {
    packages = ["curl", "ca-certificates", "curl"]
  }
}

image "other" {
  from = stage.base
}
