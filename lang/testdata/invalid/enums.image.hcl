stage "s" {
  from     = "alpine"
  platform = "linux" # ERROR: Invalid platform
  optimize = "most"  # ERROR: Invalid optimization level
  run {
    sh      = "true"
    network = "bridge" # ERROR: Invalid network mode
    mount "cache" {
      target  = "/c"
      sharing = "shard" # ERROR: Invalid sharing mode
    }
    mount "volume" { # ERROR: Unsupported mount type
      target = "/v"
    }
    mount "tmpfs" {
      target = "/t"
      id     = "x"    # ERROR: Unsupported mount argument
      size   = "lots" # ERROR: Invalid size
    }
    mount "cache" {
      target = "/c2"
      mode   = "0999" # ERROR: Invalid file mode
    }
    mount "cache" { # ERROR: Missing mount target
      id = "nothing"
    }
    mount "secret" { # ERROR: Missing secret id
      required = true
    }
    device "" {} # ERROR: Invalid device name
    device "vendor.com/gpu=0" {
      required = "yes" # ERROR: Incorrect attribute value type
    }
    device "vendor.com/gpu=1" {
      optional = true # ERROR: Unsupported argument
    }
    writes = ["out"] # ERROR: Relative path in writes
  }
  copy {
    src   = "a"
    dest  = "/a"
    chmod = "rwxr-xr-x" # ERROR: Invalid file mode
    chown = "a:b:c"     # ERROR: Invalid owner
  }
}
