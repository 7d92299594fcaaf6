variable "v" {
  default = "a"
}

variable "v" { # ERROR: Duplicate variable name
  default = "b"
}

locals {
  x = 1
}

locals {
  x = 2 # ERROR: Duplicate local value name
}

stage "build" {
  from = "alpine"
}

image "build" { # ERROR: Duplicate stage name
  from = "alpine"
}

image "app" {
  from = stage.build
  layer "one" {
    run {
      sh = "true"
    }
  }
  layer "one" { # ERROR: Duplicate layer name
    run {
      sh = "true"
    }
  }
  config {
    cmd = ["a"]
  }
  config { # ERROR: Duplicate config block
    cmd = ["b"]
  }
}
