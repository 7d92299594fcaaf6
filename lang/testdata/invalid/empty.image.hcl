# Only a variable: nothing to build. # ERROR: No images
variable "v" {
  default = "x"
}
