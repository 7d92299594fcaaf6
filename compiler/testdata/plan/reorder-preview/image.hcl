# At --optimize=all a step that declares what it reads and writes (or a
# stdlib macro, whose effects are known) moves before the context copies it
# does not depend on; a run that declares nothing is a barrier.

image "app" {
  from = "docker.io/library/debian:bookworm-slim"

  copy {
    src  = "requirements.txt"
    dest = "/app/"
  }
  copy {
    src  = "src/"
    dest = "/app/src/"
  }
  apt_install {
    packages = ["python3", "ca-certificates"]
  }
  run {
    sh     = "mkdir -p /opt/tool && echo v1 > /opt/tool/version"
    writes = ["/opt/tool"]
  }
  # Reads what the first copy wrote: stays after it.
  run {
    sh     = "cp /app/requirements.txt /opt/req.txt"
    reads  = ["/app/requirements.txt"]
    writes = ["/opt/req.txt"]
  }
  copy {
    src  = "src/main.py"
    dest = "/srv/main.py"
  }
  # Declares nothing: nothing moves across it.
  run {
    sh = "echo barrier"
  }
  copy {
    src  = "requirements.txt"
    dest = "/etc/req.txt"
  }
  run {
    sh     = "echo v2 > /opt/tool/version2"
    writes = ["/opt/tool/version2"]
  }
}
