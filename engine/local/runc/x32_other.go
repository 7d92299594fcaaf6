//go:build !amd64

package runc

// kernelRunsX32 is true off amd64: the x32 ABI is an x86_64 one, and no
// other architecture's profile names it.
var kernelRunsX32 = func() bool { return true }
