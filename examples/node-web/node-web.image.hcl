# A Node.js web server with production-only dependencies installed by
# npm ci from the lock file, with npm's cache as a cache mount. Needs a
# registry for the node image.

variable "node" {
  type    = string
  default = "docker.io/library/node:22-bookworm-slim"
}

image "node-web" {
  from = var.node
  tags = ["localhost/imgc-node-web:latest"]
  env  = { NODE_ENV = "production" }

  # package.json and package-lock.json alone, then `npm ci --omit=dev` in
  # /app: editing server.js or public/ does not reinstall.
  npm_ci {
    dir        = "/app"
    production = true
  }

  copy {
    src  = "server.js"
    dest = "/app/server.js"
  }

  copy {
    src  = "public/"
    dest = "/app/public/"
  }

  config {
    cmd     = ["node", "server.js"]
    workdir = "/app"
    user    = "node" # the node images' own unprivileged user (uid 1000)
    expose  = ["3000/tcp"]
    healthcheck {
      test     = ["CMD", "node", "-e", "fetch('http://127.0.0.1:3000/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
      interval = "30s"
      timeout  = "3s"
    }
  }
}
