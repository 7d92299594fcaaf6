# Converted from Dockerfile by imgc convert.

image "app" {
  from = "alpine"

  run {
    sh = "nvidia-smi"
    device "vendor.com/gpu=0" {}
  }

  run {
    sh = "sh -c 'echo $FOO'"
    device "vendor.com/gpu=0" { required = true }
    device "vendor.com/fpga" {}
    device "class1" { required = true }
  }
}

