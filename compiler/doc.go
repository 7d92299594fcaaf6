// Package compiler lowers an evaluated configuration (model.Config, from an
// .image.hcl file or an imported Dockerfile) to the layer IR (ir.Plan): it
// orders the targets, resolves every step's settings, lists and hashes the
// files each copy reads, computes cache keys and runs the optimizer passes
// in a table (passes.go).
//
// It does not parse or evaluate HCL (package lang does), and it never runs
// anything or reads images: base images are resolved to digests only
// through the caller's Options.Resolve.
package compiler
