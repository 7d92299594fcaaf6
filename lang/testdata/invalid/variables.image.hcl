# OPTION --var undeclared=1
# OPTION --var count=many
# OPTION --var-file variables.vars.hcl
# OPTION env IMGC_VAR_flag=maybe
# ERROR(global): Value for undeclared variable

variable "version" {
  type    = string
  default = "UPPER" # ERROR: Invalid value for variable
  validation {
    condition     = can(regex("^[a-z]+$", var.version))
    error_message = "The version must be lower-case."
  }
}

variable "required" { # ERROR: Missing required variable
  type = string
}

variable "count" { # ERROR: Invalid value for variable
  type = number
}

variable "flag" { # ERROR: Invalid value for variable
  type = bool
}

variable "list" {
  type = list(string)
}

variable "other" {
  type    = string
  default = "x"
  validation {
    condition     = local.something == "x" # ERROR: Invalid reference in variable validation
    error_message = "Never."
  }
}

variable "refdefault" {
  default = var.version # ERROR: Variables not allowed
}

variable "badtype" {
  type    = strang # ERROR: Invalid type specification
  default = "x"
}

image "app" {
  from = "alpine:${var.version}"
}

variable "checked" {
  default = "x"
  validation {
    condition     = var.chekced == "x" # ERROR: Reference to undeclared variable
    error_message = "Never."
  }
}
