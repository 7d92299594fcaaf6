stage "os" {
  from     = "alpine"
  platform = "linux/amd65" # ERROR: Invalid platform
}
stage "arch" {
  from     = "alpine"
  platform = "linx/arm64" # ERROR: Invalid platform
}
stage "variant" {
  from     = "alpine"
  platform = "linux/arm/v7/extra" # ERROR: Invalid platform
}
image "app" {
  from     = "alpine"
  platform = "linux/arm64/v8"
  config {
    expose = [
      "8080/tcp",
      9090,
      "53/udp",
      "8000-8010",
      "99999",   # ERROR: Invalid port
      "0",       # ERROR: Invalid port
      "80/http", # ERROR: Invalid port
      "90-80",   # ERROR: Invalid port
      "-5",      # ERROR: Invalid port
      "8080-",   # ERROR: Invalid port
    ]
    stop_signal = "SIGFOO" # ERROR: Invalid stop signal
  }
}
image "signals" {
  from = "alpine"
  config {
    stop_signal = "65" # ERROR: Invalid stop signal
  }
}
image "ok" {
  from = "alpine"
  config {
    stop_signal = "sigrtmin+3"
  }
}
