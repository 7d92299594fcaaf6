package runc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/engine/local/runc"
)

func requireSlirp(t testing.TB) {
	t.Helper()
	requireRoot(t)
	if _, err := exec.LookPath("slirp4netns"); err != nil {
		t.Skip("needs slirp4netns on PATH (make deps installs it)")
	}
}

func newNetwork(t testing.TB) *runc.Network {
	t.Helper()
	n, err := runc.NewNetwork(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Error(err)
		}
	})
	return n
}

// TestNetworkDefaultIsPrivate: a step on the default network reaches
// neither a host 127.0.0.1 listener (directly or through slirp's 10.0.2.2)
// nor a host abstract unix socket, but does reach the host's other
// addresses; with the host network it reaches all, which shows the probes
// work.
func TestNetworkDefaultIsPrivate(t *testing.T) {
	requireSlirp(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("host-secret\n"))
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	abstract := fmt.Sprintf("imgc-test-abstract-%d", os.Getpid())
	uln, err := net.Listen("unix", "@"+abstract)
	if err != nil {
		t.Fatal(err)
	}
	defer uln.Close()

	// Outbound access: a listener on the host's own non-loopback address
	// stands for the internet, which this machine may not reach.
	outAddr := hostAddress(t)
	out, err := net.Listen("tcp", net.JoinHostPort(outAddr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	go func() {
		for {
			c, err := out.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("outbound\n"))
			c.Close()
		}
	}()
	outPort := out.Addr().(*net.TCPAddr).Port

	rootfs, _ := overlayRootfs(t, busyboxRootfs(t))
	// A process reaches an abstract socket only from the network namespace
	// that holds it, where /proc/net/unix lists it.
	probe := fmt.Sprintf(`nc -w 2 127.0.0.1 %d </dev/null; echo tcp=$?; nc -w 2 10.0.2.2 %d </dev/null; echo gw=$?; grep -c @%s /proc/net/unix; nc -w 2 %s %d </dev/null; true`, port, port, abstract, outAddr, outPort)
	run := func(s runc.Spec) string {
		s.Rootfs, s.Args = rootfs, []string{"sh", "-c", probe}
		code, stdout, stderr := runIn(t, s)
		if code != 0 {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		return stdout
	}
	if got, want := run(runc.Spec{Network: "host"}), "host-secret\ntcp=0\ngw=1\n1\noutbound\n"; got != want {
		t.Fatalf("the probes do not work: on the host network they gave %q, want %q", got, want)
	}
	want := "tcp=1\ngw=1\n0\noutbound\n"
	if diff := cmp.Diff(want, run(runc.Spec{Network: "default", Net: newNetwork(t)})); diff != "" {
		t.Errorf("default network, shared (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, run(runc.Spec{})); diff != "" {
		t.Errorf("default network, made by Run (-want +got):\n%s", diff)
	}
}

// hostAddress is an IPv4 address of the host that is not loopback.
func hostAddress(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ip, ok := a.(*net.IPNet); ok && ip.IP.To4() != nil && !ip.IP.IsLoopback() {
			return ip.IP.String()
		}
	}
	t.Skip("skipping: the host has no non-loopback IPv4 address to test outbound access with")
	return ""
}

// TestNetworkDefaultInterfaces: lo and slirp4netns's tap0 with the default
// route, MTU 65520 and a resolv.conf; "none" has lo alone.
func TestNetworkDefaultInterfaces(t *testing.T) {
	requireSlirp(t)
	n := newNetwork(t)
	code, stdout, stderr := runIn(t, runc.Spec{Net: n, Args: []string{"sh", "-c",
		`ls /sys/class/net; cat /sys/class/net/lo/operstate /sys/class/net/tap0/mtu; ip route | grep ^default; ip -4 addr show tap0 | grep -o 'inet [0-9./]*'`}})
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	want := "lo\ntap0\nunknown\n65520\ndefault via 10.0.2.2 dev tap0 \ninet 10.0.2.100/24\n"
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	resolv, err := os.ReadFile(n.ResolvConf())
	if err != nil {
		t.Fatal(err)
	}
	_, stdout, _ = runIn(t, runc.Spec{Net: n, Args: []string{"cat", "/etc/resolv.conf"}})
	if stdout != string(resolv) || !strings.Contains(stdout, "nameserver ") {
		t.Errorf("resolv.conf in the step = %q, want the network's %q", stdout, resolv)
	}
	_, stdout, _ = runIn(t, runc.Spec{Network: "none", Args: []string{"ls", "/sys/class/net"}})
	if diff := cmp.Diff("lo\n", stdout); diff != "" {
		t.Errorf("network none (-want +got):\n%s", diff)
	}
}

// TestNetworkSharedAndClosed: steps join the same namespace; Close stops
// slirp4netns and removes the namespace's files.
func TestNetworkSharedAndClosed(t *testing.T) {
	requireSlirp(t)
	n, err := runc.NewNetwork(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rootfs, _ := overlayRootfs(t, busyboxRootfs(t))
	ns := func() string {
		_, stdout, _ := runIn(t, runc.Spec{Rootfs: rootfs, Net: n, Args: []string{"readlink", "/proc/self/ns/net"}})
		return stdout
	}
	first := ns()
	if first == "" || ns() != first {
		t.Errorf("two steps in different namespaces: %q, %q", first, ns())
	}
	// The per-step cost of the shared network, against the host's.
	// Interleaved, so that the load of the machine weighs on each alike.
	var host, shared, none, own time.Duration
	const rounds = 6
	for i := 0; i < rounds; i++ {
		for _, c := range []struct {
			s runc.Spec
			d *time.Duration
		}{{runc.Spec{Network: "host"}, &host}, {runc.Spec{Net: n}, &shared}, {runc.Spec{Network: "none"}, &none}, {runc.Spec{}, &own}} {
			c.s.Rootfs, c.s.Args = rootfs, []string{"true"}
			start := time.Now()
			runIn(t, c.s)
			*c.d += time.Since(start) / rounds
		}
	}
	t.Logf("per step: host network %v, shared private network %v, none %v, a private network per step %v", host, shared, none, own)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(n.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("namespace file after Close: %v", err)
	}
	if _, err := os.Stat(n.ResolvConf()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("resolv.conf after Close: %v", err)
	}
	if out, _ := exec.Command("pgrep", "-f", "slirp4netns.*"+filepath.Base(n.Path())).Output(); len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("slirp4netns still running after Close: pids %s", out)
	}
}

func TestNetworkWithoutSlirp(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := runc.NewNetwork(context.Background())
	if err == nil || !strings.Contains(err.Error(), "apt-get install slirp4netns") {
		t.Errorf("NewNetwork without slirp4netns: %v, want how to install it", err)
	}
}

// TestSeccompRefusesUserNamespaces: Docker's default profile applies, so a
// step cannot create a user namespace (nor mount, nor load keys).
func TestSeccompRefusesUserNamespaces(t *testing.T) {
	requireRoot(t)
	code, stdout, stderr := runIn(t, runc.Spec{Network: "none", Args: []string{"sh", "-c",
		`unshare -U true 2>/dev/null; echo userns=$?; grep ^Seccomp: /proc/self/status`}})
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if diff := cmp.Diff("userns=1\nSeccomp:\t2\n", stdout); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
