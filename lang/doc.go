// Package lang is the .image.hcl front end: it parses a configuration (one
// file or a directory of *.image.hcl files), decodes it into an AST of raw
// expressions (schema.go, decode.go and one decode function per block
// kind), checks references statically (unknown names, duplicates, cycles
// between locals), takes variable values from their sources and evaluates
// everything (eval_*.go, with the value coercions of coerce.go) into a
// model.Config, which model.Check checks before Load returns.
//
// It also owns the lock file (imgc.lock.hcl) and canonical formatting.
//
// It deliberately does not resolve images, read the build context or
// compute cache keys: those belong to the compiler and the runtime. Values
// stay as written (a relative dest stays relative) so that plan output
// shows what the user wrote; an image reference is parsed once, by
// imageref, into the typed value the model carries.
package lang
