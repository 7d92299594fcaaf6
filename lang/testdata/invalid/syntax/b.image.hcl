image "app" {
  from = stage.base
}
