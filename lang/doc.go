// Package lang is the .image.hcl front end: it parses a configuration (one
// file or a directory of *.image.hcl files), decodes it into an AST of raw
// expressions, checks references statically (unknown names, duplicates,
// cycles), takes variable values from their sources and evaluates
// everything into a Config (model.go), which is all the compiler needs.
//
// It also owns the lock file (imgc.lock.hcl) and canonical formatting.
//
// It deliberately does not resolve images, read the build context or
// compute cache keys: those belong to the compiler and the runtime. Values
// stay as written (a relative dest stays relative, a Docker Hub short name
// stays short) so that plan output shows what the user wrote.
package lang
