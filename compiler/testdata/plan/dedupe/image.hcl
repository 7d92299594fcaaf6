# Two stages with the same steps from the same base are built once.

stage "assets" {
  from = "docker.io/library/alpine:3.20"
  run {
    sh = "mkdir -p /out && echo hi > /out/hi.txt"
  }
}

stage "assets_copy" {
  from = "docker.io/library/alpine:3.20"
  run {
    sh = "mkdir -p /out && echo hi > /out/hi.txt"
  }
}

image "web" {
  from = "docker.io/library/nginx:1.27"
  copy {
    from = stage.assets
    src  = "/out/"
    dest = "/usr/share/nginx/html/"
  }
  copy {
    from = stage.assets_copy
    src  = "/out/hi.txt"
    dest = "/usr/share/nginx/html/hi2.txt"
  }
}
