# The classic Flask tutorial image, written the imgc way: the OS packages,
# the dependencies and the source each in their own layer, in the order
# they change, with the package caches as cache mounts. Needs a registry
# for the Ubuntu base.

variable "ubuntu" {
  type        = string
  default     = "docker.io/library/ubuntu:24.04"
  description = "The base image."
}

variable "version" {
  type    = string
  default = "dev"
}

image "flask" {
  from = var.ubuntu
  tags = ["localhost/imgc-flask:${var.version}"]
  env = {
    PYTHONDONTWRITEBYTECODE = "1"
    PYTHONUNBUFFERED        = "1"
  }

  # One layer; apt's lists and downloads are cache mounts, so there is
  # nothing to rm -rf.
  apt_install {
    packages = ["python3", "python3-venv"]
  }

  # Ubuntu 24.04 already has a user with uid 1000 (ubuntu).
  user {
    name = "flask"
    uid  = 10001
  }

  # Copies requirements.txt alone, then installs into a virtual
  # environment with pip's cache as a cache mount: editing app.py does not
  # reinstall Flask.
  pip_install {
    requirements = "requirements.txt"
    dest         = "/opt/source_code"
    venv         = "/opt/venv"
  }

  copy {
    src  = "app.py"
    dest = "/opt/source_code/app.py"
  }

  config {
    entrypoint = ["/opt/venv/bin/flask", "run", "--host=0.0.0.0", "--port=5000"]
    workdir    = "/opt/source_code"
    user       = "flask"
    expose     = ["5000/tcp"]
    env = {
      FLASK_APP   = "/opt/source_code/app.py"
      APP_VERSION = var.version
    }
    healthcheck {
      test     = ["CMD", "/opt/venv/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health')"]
      interval = "30s"
      timeout  = "3s"
    }
  }
}
