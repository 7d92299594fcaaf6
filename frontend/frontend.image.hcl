# The imgc frontend image (make frontend): imgc-frontend, a static binary,
# alone on scratch, run by buildkitd as a gateway.v0 frontend. One image per
# platform, as an index: the context holds a binary per platform, cross-
# compiled into OS_ARCH/ (make frontend), and nothing runs, so no platform
# is emulated.
image "frontend" {
  from      = "scratch"
  tags      = ["latest"]
  platforms = ["linux/amd64", "linux/arm64"]

  copy {
    src   = "${platform.os}_${platform.arch}/imgc-frontend"
    dest  = "/bin/imgc-frontend"
    chmod = "0755"
  }

  config {
    entrypoint = ["/bin/imgc-frontend"]
    labels = {
      "moby.buildkit.frontend.network.none" = "true"
      "moby.buildkit.frontend.caps"         = "moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"
    }
  }
}
