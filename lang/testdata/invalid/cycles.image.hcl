locals {
  a = local.b # ERROR: Cycle in local values
  b = "${local.c}-x"
  c = local.a
  d = local.d # ERROR: Cycle in local values
  e = local.a
}

stage "one" {
  from = stage.two # ERROR: Cycle between stages
}

stage "two" {
  from = "alpine"
  copy {
    from = image.three
    src  = "/x"
    dest = "/x"
  }
}

image "three" {
  from = stage.one
}

image "self" {
  from = "alpine"
  run {
    mount "bind" {
      from   = image.self # ERROR: Cycle between stages
      target = "/in"
    }
    sh = "true"
  }
}

image "through_local" {
  from = local.self # ERROR: Cycle between stages
}

locals {
  self = image.through_local
}
