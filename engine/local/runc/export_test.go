package runc

// KernelRunsX32 is kernelRunsX32 for the external tests.
func KernelRunsX32() bool { return kernelRunsX32() }
