# Converted from Dockerfile by imgc convert.

stage "stage-0" {
  from = "nginx:1.27"

  config {
    labels = {
      "a"   = "1"
      "b"   = "two words"
      "c d" = "3"
    }
    expose      = ["443/tcp", "53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp"]
    volumes     = ["/data", "/logs", "/cache", "/tmp/x"]
    stop_signal = "SIGQUIT"
    author      = "Jane Doe <jane@example.com>"
    onbuild = [
      "RUN echo triggered",
      "COPY . /app",
    ]
    healthcheck {
      test         = ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]
      interval     = "30s"
      timeout      = "5s"
      start_period = "10s"
      retries      = 3
    }
  }
}

image "nohealth" {
  from = "nginx:1.27"

  config {
    cmd = ["nginx", "-g", "daemon off;"]
    healthcheck { test = ["NONE"] }
  }
}

