stage "build" {
  from        = "alpine"
  tags        = ["example.com/x:1"]   # ERROR: Image attribute on a stage
  annotations = { a = "b" }           # ERROR: Image attribute on a stage
  cache_to    = ["type=local,dest=c"] # ERROR: Image attribute on a stage
}

image "app" {
  from       = "alpine"
  tags       = ["Example.com/UPPER CASE"] # ERROR: Invalid image tag
  env        = { "A=B" = "x" }            # ERROR: Invalid environment variable name
  cache_from = { ref = "x" }              # ERROR: Incorrect attribute value type
  config {
    expose     = ["http"] # ERROR: Invalid port
    entrypoint = "/app"   # ERROR: Incorrect attribute value type
    healthcheck {
      test     = ["curl"] # ERROR: Invalid health check test
      interval = "often"  # ERROR: Invalid duration
      retries  = 1.5      # ERROR: Invalid number
    }
  }
}

image "invalid name!" { # ERROR: Invalid image name
  from = "alpine"
}

image "dirs" {
  from = "alpine"
  mkdir {
    path = "" # ERROR: Empty path
  }
  mkdir {
    path = "/x"
    user = "99999999999" # ERROR: Invalid user
  }
  mkdir { # ERROR: Missing required argument
    user = "root"
  }
}

image "scripts" {
  from = "alpine"
  run {
    script = "echo no interpreter" # ERROR: Script without interpreter line
  }
  run {
    sh     = "echo"
    script = "#!/bin/sh" # ERROR: Conflicting command forms
  }
  run {
    sh          = "echo"
    script_name = "x" # ERROR: Script name without script
  }
  run {
    script      = "#!/bin/sh" # ERROR: Invalid script name
    script_name = "a/b"
  }
}

image "privileged" {
  from = "alpine"
  run {
    sh       = "echo"
    security = "root" # ERROR: Invalid security mode
  }
}
