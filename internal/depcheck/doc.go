// Package depcheck holds only a test: the dependency policy of imgc's
// packages, stated as data and checked with `go list -deps`.
package depcheck
