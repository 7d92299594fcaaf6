// Package stdlib provides the functions available in .image.hcl expressions
// (the cty standard library plus imgc's own file, hashing and version
// helpers) and the step macros: block types that expand to ordinary steps.
//
// It imports only the model (and what the model imports): a macro expands
// to model steps, which the language front end completes with the block's
// range and variables. It knows nothing of the language or the IR.
package stdlib
