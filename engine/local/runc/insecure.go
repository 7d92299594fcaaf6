package runc

import (
	"fmt"
	"os"

	"github.com/containerd/containerd/v2/pkg/cap"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// insecure makes spec privileged as BuildKit v0.34's runc executor does
// for RUN --security=insecure (security.WithInsecureSpec,
// oci.WithWriteableSysfs and oci.WithWriteableCgroupfs): every capability
// imgc itself holds, in every set; no masked or read-only /proc paths; no
// seccomp filter or AppArmor profile; every device allowed by the device
// cgroup, with /dev/kmsg, fuse, cuse, kvm, net/tun, loop-control and the
// loop devices up to 7 past the first free one made in /dev; /sys and
// /sys/fs/cgroup writable.
func insecure(spec *specs.Spec) error {
	all, err := cap.Current()
	if err != nil {
		return fmt.Errorf("reading imgc's capabilities: %w", err)
	}
	c := spec.Process.Capabilities
	c.Bounding, c.Effective, c.Permitted, c.Inheritable, c.Ambient = all, all, all, all, all
	spec.Linux.MaskedPaths = []string{}
	spec.Linux.ReadonlyPaths = []string{}
	spec.Linux.Seccomp = nil
	spec.Process.ApparmorProfile = ""
	spec.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{
		{Allow: true, Type: "c", Access: "rwm"},
		{Allow: true, Type: "b", Access: "rwm"},
	}
	spec.Linux.Devices = append(spec.Linux.Devices, insecureDevices()...)
	for i, m := range spec.Mounts {
		if m.Destination == "/sys" || m.Destination == "/sys/fs/cgroup" {
			var opts []string
			for _, o := range m.Options {
				if o != "ro" {
					opts = append(opts, o)
				}
			}
			spec.Mounts[i].Options = append(opts, "rw")
		}
	}
	return nil
}

// insecureDevices are the device nodes BuildKit's insecure mode adds.
func insecureDevices() []specs.LinuxDevice {
	devs := []specs.LinuxDevice{
		{Path: "/dev/kmsg", Type: "c", Major: 1, Minor: 11},
		{Path: "/dev/cuse", Type: "c", Major: 10, Minor: 203},
		{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229},
		{Path: "/dev/kvm", Type: "c", Major: 10, Minor: 232},
		{Path: "/dev/net/tun", Type: "c", Major: 10, Minor: 200},
		{Path: "/dev/loop-control", Type: "c", Major: 10, Minor: 237},
	}
	free := freeLoopID()
	for i := 0; i <= free+7; i++ {
		devs = append(devs, specs.LinuxDevice{Path: fmt.Sprintf("/dev/loop%d", i), Type: "b", Major: 7, Minor: int64(i)})
	}
	return devs
}

// freeLoopID is the first free loop device's number, or 0 when the host
// cannot tell (as in BuildKit).
func freeLoopID() int {
	f, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return 0
	}
	defer f.Close()
	const loopCtlGetFree = 0x4C82
	n, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), loopCtlGetFree, 0)
	if errno != 0 {
		return 0
	}
	return int(n)
}
