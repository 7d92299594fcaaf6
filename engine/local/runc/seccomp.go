package runc

import (
	"bufio"
	"os"
	"slices"
	"strings"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// seccompProfile returns Docker's default seccomp profile for spec, less
// the x32 ABI where the kernel cannot run x32 programs.
//
// runc compiles the profile with libseccomp in every container it starts,
// and the cost grows steeply with the architectures it names: on amd64,
// Docker's x86_64, x86 and x32 took 23-30 ms of CPU per container here
// with libseccomp 2.5.4, 10-15 ms without x32, the largest part of a
// trivial step's cost after runc's own start. Most kernels are built
// without x32 (CONFIG_X86_X32_ABI) or boot with it off, and there an x32
// program cannot even be executed. With x32 left out, the filter refuses
// x32 system calls itself, as calls of an unknown architecture (runc's
// default: the calling thread is killed), where Docker's profile lets the
// kernel answer ENOSYS: no system call is allowed that was not before.
// i386 (x86) stays: 32-bit programs run in builds.
func seccompProfile(spec *specs.Spec) (*specs.LinuxSeccomp, error) {
	sc, err := seccomp.GetDefaultProfile(spec)
	if err != nil {
		return nil, err
	}
	if slices.Contains(sc.Architectures, specs.ArchX32) && !kernelRunsX32() {
		sc.Architectures = slices.DeleteFunc(slices.Clone(sc.Architectures), func(a specs.Arch) bool { return a == specs.ArchX32 })
	}
	return sc, nil
}

// seccompFree reports whether this process runs without a seccomp filter
// (/proc/self/status says "Seccomp: 0"). Under one, a probe system call of
// another ABI could kill imgc.
func seccompFree() bool {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Seccomp:"); ok {
			return strings.TrimSpace(v) == "0"
		}
	}
	return false
}
