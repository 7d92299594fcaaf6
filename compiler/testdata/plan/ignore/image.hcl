# .imgcignore wins over .dockerignore; exclude, globs and parents.

image "site" {
  from    = "scratch"
  workdir = "/srv"

  copy {
    src  = "."
    dest = "./"
  }

  copy {
    src     = ["src/**/*.py"]
    dest    = "/py/"
    parents = true
    exclude = ["**/*_test.py"]
  }

  copy {
    src  = "src/*/"
    dest = "/flat/"
  }
}
