// Package stdlib provides the functions available in .image.hcl expressions
// (the cty standard library plus imgc's own file, hashing and version
// helpers) and the step macros: block types that expand to ordinary steps.
//
// It deliberately imports no other imgc package: it knows nothing of the
// language model or the IR. A macro describes its expansion in this
// package's own MacroStep type and the language front end turns that into
// steps.
package stdlib
