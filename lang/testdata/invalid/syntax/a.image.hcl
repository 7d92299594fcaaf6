stage "base" {
  from = # ERROR: Invalid expression
}
