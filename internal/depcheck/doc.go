// Package depcheck holds only a test: the dependency policy of imgc's
// packages, stated as data and checked with `go list` against every
// package's dependencies and its tests' (TestImports, XTestImports and
// what they depend on).
package depcheck
