// Package model is the evaluated configuration: what an .image.hcl
// configuration (after parsing, decoding, reference resolution and
// evaluation) or an imported Dockerfile becomes, and what the compiler
// lowers to the IR. Every value is concrete; ranges point at the source
// (HCL blocks or Dockerfile instructions) for diagnostics.
//
// Both front ends call Check before they return a Config. Check states the
// model's rules once, in one wording, and removes what breaks them, so
// that the compiler can rely on them: a broken rule that reaches the
// compiler is a bug in imgc, not the user's mistake.
//
// The package imports no imgc package but imageref. It does not read
// files, resolve references or know either source language.
package model
