# A conditional chooses between two stage references or two strings; HCL
# needs both results to have one type.
variable "local_tools" {
  default = true
}

image "tools" {
  from = "scratch"
}

image "app" {
  from = var.local_tools ? image.tools : "busybox" # ERROR: Inconsistent conditional result types
}
