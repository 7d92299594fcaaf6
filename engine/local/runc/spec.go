package runc

import (
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Spec describes one process to run.
type Spec struct {
	ID     string   // container id (unique; the caller makes it)
	Rootfs string   // mounted rootfs dir (writable overlay)
	Args   []string // the process and its arguments
	Env    []string // full environment; PATH (and HOME, from /etc/passwd) are added if missing
	Cwd    string   // created inside the rootfs if missing (mode 0755) before running; "" = "/"
	User   string   // "name|uid[:group|gid]", resolved against Rootfs's /etc/passwd and /etc/group
	// Network is "default" or "": a private network namespace with outbound
	// access (Net, or one made for this run); "none": a fresh one with lo
	// only; "host": the host's (the caller gates it).
	Network string
	// Net is the private network that "default" steps join; nil: Run makes
	// one for this run and removes it after.
	Net *Network
	// Mounts are extra mounts (cache dirs, secrets, tmpfs, binds), appended after the defaults.
	Mounts   []specs.Mount
	Hostname string // "" = DefaultHostname
	// Ports are published from the host when Run makes the private
	// network (Net is nil and Network is "default").
	Ports []Port
	// Stdin is the process's standard input (nil: none).
	Stdin io.Reader
	// Terminal gives the process a pseudo-terminal, which runc connects
	// to its own standard streams (they should be a terminal).
	Terminal bool
	// Insecure runs the process privileged, as BuildKit's
	// RUN --security=insecure does (see insecure.go).
	Insecure bool
	// Edit, when set, changes the runtime configuration last, as
	// BuildKit applies CDI devices' container edits (package
	// engine/local/devices). The mount points its mounts need are not
	// among MountPoints': BuildKit leaves them in the layer too.
	Edit func(*specs.Spec) error
}

// DefaultHostname is the container's host name when Spec.Hostname is empty.
const DefaultHostname = "imgc"

// DefaultPath is the PATH given to processes whose environment has none (Docker's).
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// DefaultCapabilities is Docker's default capability set.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

var maskedPaths = []string{
	"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
}

var readonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// hostFiles are bound read-only from the host when the host has them.
var hostFiles = []string{"/etc/resolv.conf", "/etc/hosts"}

// defaultMounts are Docker's, plus the resolver files (the host's, or
// resolvConf when not empty) and the container's /etc/hostname (from
// hostnameFile, when not empty).
func defaultMounts(hostnameFile, resolvConf string) []specs.Mount {
	ms := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	}
	for _, f := range hostFiles {
		if f == "/etc/resolv.conf" && resolvConf != "" {
			ms = append(ms, roBind(resolvConf, f))
		} else if _, err := os.Stat(f); err == nil {
			ms = append(ms, roBind(f, f))
		}
	}
	ms = append(ms, roBind(hostnameFile, "/etc/hostname"))
	return ms
}

func roBind(src, dst string) specs.Mount {
	return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec", "rprivate"}}
}

// MountPoints returns every path inside the rootfs that Run mounts over for
// s. runc creates a missing mount point (as an empty file or directory, with
// missing parents), so a caller that turns the rootfs' upper dir into a layer
// removes those that did not exist before: FindStubs and Stubs.Remove do.
// Mount points below an earlier mount (such as /dev/pts) are listed too,
// though their stubs are made in that mount.
func MountPoints(s Spec) []string {
	var out []string
	for _, m := range defaultMounts("", "") {
		out = append(out, m.Destination)
	}
	for _, m := range s.Mounts {
		out = append(out, path.Clean(m.Destination))
	}
	return out
}

// ociSpec builds the runtime configuration for s run as u.
func ociSpec(s Spec, u user, hostnameFile string) (*specs.Spec, error) {
	if len(s.Args) == 0 {
		return nil, fmt.Errorf("no command to run")
	}
	cwd := s.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if !path.IsAbs(cwd) {
		return nil, fmt.Errorf("working directory %q is not absolute", s.Cwd)
	}
	hostname := s.Hostname
	if hostname == "" {
		hostname = DefaultHostname
	}
	namespaces := []specs.LinuxNamespace{
		{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
	}
	resolvConf := ""
	switch s.Network {
	case "", "default":
		if s.Net == nil {
			return nil, fmt.Errorf("no private network to join")
		}
		namespaces = append(namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: s.Net.Path()})
		resolvConf = s.Net.ResolvConf()
	case "host":
	case "none":
		namespaces = append(namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	default:
		return nil, fmt.Errorf("unknown network mode %q (want default, host or none)", s.Network)
	}
	for _, m := range s.Mounts {
		if !path.IsAbs(m.Destination) {
			return nil, fmt.Errorf("mount destination %q is not absolute", m.Destination)
		}
	}

	caps := &specs.LinuxCapabilities{Bounding: DefaultCapabilities}
	if u.uid == 0 {
		// As Docker: a non-root process starts without effective
		// capabilities; setuid and file capabilities still reach the bounding set.
		caps.Effective = DefaultCapabilities
		caps.Permitted = DefaultCapabilities
	}

	nofile := uint64(1024)
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil && lim.Max < nofile {
		nofile = lim.Max
	}

	spec := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Terminal: s.Terminal,
			User: specs.User{
				UID:            u.uid,
				GID:            u.gid,
				AdditionalGids: processGids(u, s.User),
			},
			Args:         s.Args,
			Env:          environment(s.Env, u),
			Cwd:          cwd,
			Capabilities: caps,
			Rlimits:      []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: nofile, Soft: nofile}},
		},
		Root:     &specs.Root{Path: s.Rootfs, Readonly: false},
		Hostname: hostname,
		Mounts:   append(defaultMounts(hostnameFile, resolvConf), s.Mounts...),
		Linux: &specs.Linux{
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			Namespaces:    namespaces,
			MaskedPaths:   maskedPaths,
			ReadonlyPaths: readonlyPaths,
		},
	}
	// Docker's default profile, which allows the syscalls that the
	// capability set above needs and refuses, among others, new user
	// namespaces, keyrings, kernel modules and bpf.
	sc, err := seccomp.GetDefaultProfile(spec)
	if err != nil {
		return nil, fmt.Errorf("making the seccomp profile: %w", err)
	}
	spec.Linux.Seccomp = sc
	if s.Insecure {
		if err := insecure(spec); err != nil {
			return nil, err
		}
	}
	if s.Edit != nil {
		if err := s.Edit(spec); err != nil {
			return nil, err
		}
	}
	return spec, nil
}

// environment adds PATH and HOME when env lacks them, as Docker does.
func environment(env []string, u user) []string {
	out := append([]string{}, env...)
	has := func(name string) bool {
		for _, e := range env {
			if strings.HasPrefix(e, name+"=") {
				return true
			}
		}
		return false
	}
	if !has("PATH") {
		out = append(out, "PATH="+DefaultPath)
	}
	if !has("HOME") {
		out = append(out, "HOME="+u.home)
	}
	return out
}
