# Converted from Dockerfile by imgc convert.

image "app" {
  from = "alpine"

  run {
    sh = "ssh-add -l"
    mount "ssh" {
    }
  }

  run {
    sh = "ssh-add -l"
    mount "ssh" {
      id       = "deploy"
      target   = "/agent"
      required = true
      mode     = "0666"
      uid      = 1000
    }
    mount "ssh" {
    }
  }
}

