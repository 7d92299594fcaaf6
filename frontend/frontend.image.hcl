# The imgc frontend image (make frontend): imgc-frontend, a static binary,
# alone on scratch, run by buildkitd as a gateway.v0 frontend.
image "frontend" {
  from = "scratch"
  tags = ["latest"]

  copy {
    src   = "imgc-frontend"
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
