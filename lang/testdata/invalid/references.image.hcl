variable "version" {
  default = "1"
}

locals {
  base = "alpine:${var.verison}" # ERROR: Reference to undeclared variable
  tag  = local.bse               # ERROR: Reference to undeclared local value
}

stage "build" {
  from = local.base
}

image "app" {
  from = stage.buld # ERROR: Reference to undeclared stage
  copy {
    from = stage.app # ERROR: Reference to undeclared stage
    src  = "/x"
    dest = "/y"
  }
  run {
    sh = "echo ${undeclared.thing}" # ERROR: Unknown variable
  }
}

image "other" {
  from = image.build # ERROR: Reference to undeclared image
  run {
    sh = "echo ${var.nope}" # ERROR: Reference to undeclared variable
  }
}

image "quoted" {
  from = "stage.build" # ERROR: Quoted stage reference
}

image "badref" {
  from = "Not A Reference" # ERROR: Invalid image reference
}
