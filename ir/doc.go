// Package ir is imgc's typed layer IR: what a configuration (HCL or an
// imported Dockerfile) compiles to, what the optimizer rewrites, what
// `imgc plan` prints and what an engine (package engine) executes.
//
// Every step is fully resolved: its command, environment, working directory,
// user, network and mounts are explicit, so no step depends on implicit state
// of the steps before it. A Layer groups steps and is the cache boundary; its
// CacheKey is derived from its parent's key and its KeyInputs only.
//
// Origins (source ranges in .image.hcl files or Dockerfiles) travel with the
// nodes but never enter a key, so formatting or moving code never invalidates
// the cache, while every error can still point at the line that caused it.
//
// Nodes are immutable once built: passes return new nodes rather than editing
// old ones. This package imports no other imgc package.
package ir
