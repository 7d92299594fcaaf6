variable "n" {
  default = 3
}

module "lib" {
  source = "./lib"
  size   = var.n
  tag    = "2"
}

module "typed" {
  source = "./lib"
  size   = "many" # ERROR: Invalid value for variable
}

module "negative" {
  source = "./lib"
  size   = -1 # ERROR: Invalid value for variable
}

module "short" { # ERROR: Missing module input
  source = "./lib"
  colour = "red" # ERROR: Unsupported module input
}

module "nosource" { # ERROR: Missing module source
}

module "form" {
  source = "lib" # ERROR: Invalid module source
}

module "gone" {
  source = "./nowhere" # ERROR: Invalid module source
}

module "remote" {
  source = "git::file:///nonexistent/imgc-test-repo.git" # ERROR: Module not fetched
}

module "lib" { # ERROR: Duplicate module name
  source = "./lib"
}

module "loop" {
  source = "./loop"
}

image "app" {
  from = module.lib.image.runtime
  copy {
    from = module.libb.stage.build # ERROR: Reference to undeclared module
    src  = ["/a"]
    dest = "/a"
  }
  copy {
    from = module.lib.image.build # ERROR: Reference to undeclared image
    src  = ["/b"]
    dest = "/b"
  }
  copy {
    from = module.lib # ERROR: Invalid module reference
    src  = ["/c"]
    dest = "/c"
  }
  use "stamp" { # ERROR: Invalid step reference
  }
  use "module.nope.step.stamp" { # ERROR: Reference to undeclared module
  }
  use "module.lib.step.stump" { # ERROR: Reference to undeclared step definition
  }
  use "module.lib.step.stamp" { # ERROR: Missing required argument
  }
  use "module.lib.step.stamp" {
    name = ""
  }
}
