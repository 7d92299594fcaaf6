# User and group ids are 32 bits: a larger one must not wrap (2^40 became
# 0, root).
image "ids" {
  from = "alpine"
  user = "1099511627776" # ERROR: Invalid user
  copy {
    src   = "a"
    dest  = "/a"
    chown = "app:4294967296" # ERROR: Invalid owner
  }
  run {
    sh   = "true"
    user = "4294967295" # ERROR: Invalid user
    mount "cache" {
      target = "/c"
      gid    = 1099511627776 # ERROR: Invalid gid
    }
  }
  run {
    sh   = "true"
    user = "4294967294:app"
  }
}
