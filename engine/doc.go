// Package engine is the boundary between the CLI and what executes a
// compiled plan: the Engine interface (Build a plan, Explain what a build
// would reuse), the options and progress events of a build, its Result,
// and StepError, which carries a failing step's origins back for the CLI to
// render. Prepare holds the checks every engine makes before it builds: the
// plan's invariants (ir.Check), the network.host entitlement, defaults.
//
// Package engine/local is the first implementation (runc over overlayfs,
// with imgc's own store); a BuildKit engine is meant to be the second.
//
// It deliberately knows nothing of how steps run, where images are stored
// or how they are written (no runc, overlay, store or image I/O here), and
// never sees the languages: it imports only the IR.
package engine
