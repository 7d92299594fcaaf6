package runc

import (
	"sync"

	"golang.org/x/sys/unix"
)

// x32SyscallBit marks a system call of the x32 ABI on x86_64.
const x32SyscallBit = 0x40000000

// kernelRunsX32 reports whether the kernel answers x32 system calls: it
// asks for getpid through the x32 ABI, once per process, which a kernel
// without x32 refuses with ENOSYS. Under a seccomp filter imgc does not
// probe (the filter might kill it for trying) and assumes x32 is there.
var kernelRunsX32 = sync.OnceValue(func() bool {
	if !seccompFree() {
		return true
	}
	_, _, errno := unix.RawSyscall(x32SyscallBit|unix.SYS_GETPID, 0, 0, 0)
	return errno != unix.ENOSYS
})
