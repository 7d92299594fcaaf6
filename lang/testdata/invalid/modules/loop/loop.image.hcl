module "again" {
  source = "./" # ERROR: Cycle in modules
}

image "x" {
  from = "scratch"
}
