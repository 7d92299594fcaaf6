overridden = "file"
from_file  = ["a", "b"]
