list    = { not = "a list" } # ERROR: Invalid value for variable
unknown = "x"                # ERROR: Value for undeclared variable
