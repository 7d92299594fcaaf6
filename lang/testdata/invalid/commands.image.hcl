image "app" {
  from = "alpine"
  run { # ERROR: Missing command
    network = "none"
  }
  run {
    sh   = "true"
    exec = ["true"] # ERROR: Conflicting command forms
  }
  run {
    sh = "" # ERROR: Empty command
  }
  run {
    exec = [] # ERROR: Empty command
  }
  run {
    sh = { a = 1 } # ERROR: Incorrect attribute value type
  }
  run {
    exec = "true" # ERROR: Incorrect attribute value type
  }
  run {
    sh    = "true"
    shell = [] # ERROR: Empty shell
  }
  run {
    sh      = "true"
    unknown = 1 # ERROR: Unsupported argument
  }
  run {
    shh = "true" # ERROR: Unsupported argument
  }
  run {
    exe = ["true"] # ERROR: Unsupported argument
  }
  run { # ERROR: Missing command
    user  = "root"
    other = "x" # ERROR: Unsupported argument
  }
}
