# A copy whose source matches nothing, and an unknown --target.

image "app" {
  from = "scratch"
  copy {
    src  = ["bin/*.so"]
    dest = "/lib/"
  }
}
