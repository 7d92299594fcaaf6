variable "v" {
  default = "x"
}

locals {
  l = "y"
}

step "run" { # ERROR: Step definition name taken
}

step "apt_install" { # ERROR: Step definition name taken
}

step "ok" {
  variable "name" {
    type = string
    validation {
      condition     = length(var.name) < 5
      error_message = "The name is too long."
    }
  }
  variable "n" {
    type     = number
    default  = 1
    nullable = false
  }
  variable "name" { # ERROR: Duplicate parameter name
  }
  run {
    sh = "echo ${var.name} ${var.n} ${var.nme}" # ERROR: Reference to undeclared parameter
  }
  run {
    sh = "echo ${local.l} ${var.v}" # ERROR: Reference outside the step definition # ERROR: Reference to undeclared parameter
  }
  copy {
    src  = "a"
    dest = "" # ERROR: Empty dest
  }
  bogus = 1 # ERROR: Unsupported argument
}

step "ok" { # ERROR: Duplicate step definition name
}

step "a" {
  b {} # ERROR: Cycle in step definitions
}

step "b" {
  a {}
}

step "layered" {
  layer "x" {
    run {
      sh = "true"
    }
  }
}

image "app" {
  from = "scratch"
  ok { # ERROR: Missing required argument
  }
  ok {
    name  = "abc"
    extra = 1 # ERROR: Unsupported argument
  }
  ok {
    name = ["x"] # ERROR: Invalid value for step parameter
  }
  ok {
    name = "toolong" # ERROR: Invalid value for step parameter
  }
  ok {
    name = "a"
    n    = null # ERROR: Null value for step parameter
  }
  ok {
    name = var.v
  }
  a {}
  layer "outer" {
    layered {} # ERROR: Layer inside a layer
  }
}

# Checked although nothing uses it, with its parameters unknown.
step "unused" {
  variable "dest" {
    type = string
  }
  copy {
    src  = "a"
    dest = var.dest
  }
  copy {
    src  = "b"
    dest = "" # ERROR: Empty dest
  }
}

step "1bad" { # ERROR: Invalid step definition name
}

step "selfish" {
  dynamic "selfish" { # ERROR: Cycle in step definitions
    for_each = [1]
    content {}
  }
}

step "checked" {
  variable "x" {
    type = string
    validation {
      condition     = "maybe" # ERROR: Invalid validation condition
      error_message = "never shown"
    }
  }
}

variable "never_null" {
  default  = null # ERROR: Invalid value for variable
  nullable = false
}

image "more" {
  from = "scratch"
  selfish {}
  checked {
    x = "y"
  }
}
