// Package sizecheck holds only a test: no non-test Go file in the module
// is longer than 800 lines and no function longer than 100 lines (data
// tables excepted), so that each file and function can be read at once.
package sizecheck
