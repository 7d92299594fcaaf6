package runc_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/imgc-dev/imgc/engine/local/runc"
	"github.com/imgc-dev/imgc/internal/overlay"
	"github.com/imgc-dev/imgc/store/layer"
	"golang.org/x/sys/unix"
)

var idSeq atomic.Int64

func newID(t testing.TB) string {
	return fmt.Sprintf("imgc-test-%d-%d", os.Getpid(), idSeq.Add(1))
}

// runIn runs args in a fresh overlay over a busybox rootfs and returns the
// exit code, stdout and stderr.
func runIn(t *testing.T, s runc.Spec) (int, string, string) {
	t.Helper()
	if s.Rootfs == "" {
		s.Rootfs, _ = overlayRootfs(t, busyboxRootfs(t))
	}
	if s.ID == "" {
		s.ID = newID(t)
	}
	var stdout, stderr bytes.Buffer
	code, err := runc.Run(context.Background(), t.TempDir(), s, &stdout, &stderr)
	if err != nil {
		t.Fatalf("Run: %v\nstderr: %s", err, stderr.String())
	}
	return code, stdout.String(), stderr.String()
}

func TestRunUpperDirBecomesLayer(t *testing.T) {
	requireRoot(t)
	lower := busyboxRootfs(t)
	merged, upper := overlayRootfs(t, lower)
	s := runc.Spec{
		ID:     newID(t),
		Rootfs: merged,
		Args:   []string{"sh", "-c", "echo x > /newfile; rm /bin/ls; mkdir -p /etc/newdir"},
	}
	// The lower has /etc, /proc, /sys, /dev and the resolver files'
	// parent, so only files runc had to create are stubs: find them.
	var before []string
	for _, p := range runc.MountPoints(s) {
		if _, err := os.Lstat(filepath.Join(lower, p)); err != nil {
			before = append(before, p)
		}
	}
	var stderr bytes.Buffer
	code, err := runc.Run(context.Background(), t.TempDir(), s, io.Discard, &stderr)
	if err != nil || code != 0 {
		overlay.Unmount(merged)
		t.Fatalf("Run = %d, %v; stderr: %s", code, err, stderr.String())
	}
	if err := overlay.Unmount(merged); err != nil {
		t.Fatal(err)
	}
	for _, p := range before {
		// Stubs runc made for mounts the lower lacked.
		if err := os.Remove(filepath.Join(upper, p)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	empty, err := layer.WriteUpperDir(&buf, upper, layer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if empty {
		t.Fatal("WriteUpperDir reported an empty upper dir")
	}
	got := tarListing(t, &buf)
	want := []string{
		"bin/ dir",
		"bin/.wh.ls reg 0",
		"etc/ dir",
		"etc/newdir/ dir",
		"newfile reg 2",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("layer entries (-want +got):\n%s", diff)
	}
}

func tarListing(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			out = append(out, hdr.Name+" dir")
		case tar.TypeReg:
			out = append(out, fmt.Sprintf("%s reg %d", hdr.Name, hdr.Size))
		default:
			out = append(out, fmt.Sprintf("%s type %c", hdr.Name, hdr.Typeflag))
		}
	}
}

func TestRunExitCodes(t *testing.T) {
	requireRoot(t)
	rootfs, _ := overlayRootfs(t, busyboxRootfs(t))
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"true"}, 0},
		{[]string{"sh", "-c", "exit 3"}, 3},
		{[]string{"false"}, 1},
		{[]string{"sh", "-c", "exit 255"}, 255},
	} {
		code, _, stderr := runIn(t, runc.Spec{Rootfs: rootfs, Args: tc.args})
		if code != tc.want {
			t.Errorf("%q exited %d, want %d (stderr %q)", tc.args, code, tc.want, stderr)
		}
	}
}

func TestRunStreamsOutputAndEnvironment(t *testing.T) {
	requireRoot(t)
	code, stdout, stderr := runIn(t, runc.Spec{
		Args: []string{"sh", "-c", `echo "out $FOO $PATH $HOME"; echo err >&2; pwd; hostname; cat /etc/hostname`},
		Env:  []string{"FOO=bar"},
		Cwd:  "/work/dir",
	})
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	want := "out bar " + runc.DefaultPath + " /root\n/work/dir\nimgc\nimgc\n"
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if stderr != "err\n" {
		t.Errorf("stderr = %q, want %q", stderr, "err\n")
	}
}

func TestRunUser(t *testing.T) {
	requireRoot(t)
	rootfs, _ := overlayRootfs(t, busyboxRootfs(t))
	for _, tc := range []struct{ user, want string }{
		{"nobody", "65534 65534 65534\n"},
		{"builder", "1000 1000 1000 10\n"},
		{"1000:10", "1000 10 10\n"},
		{"65534:builder", "65534 1000 1000\n"},
		{"", "0 0 0\n"},
	} {
		code, stdout, stderr := runIn(t, runc.Spec{Rootfs: rootfs, User: tc.user, Args: []string{"sh", "-c", "echo $(id -u) $(id -g) $(id -G)"}})
		if code != 0 {
			t.Fatalf("user %q: exit %d, stderr %q", tc.user, code, stderr)
		}
		if stdout != tc.want {
			t.Errorf("user %q: got %q, want %q", tc.user, stdout, tc.want)
		}
	}
	// Non-root processes start without effective capabilities, as in Docker.
	_, stdout, _ := runIn(t, runc.Spec{Rootfs: rootfs, User: "nobody", Args: []string{"sh", "-c", "grep CapEff /proc/self/status"}})
	if !strings.Contains(stdout, "0000000000000000") {
		t.Errorf("nobody's capabilities: %q", stdout)
	}
	_, stdout, _ = runIn(t, runc.Spec{Rootfs: rootfs, Args: []string{"sh", "-c", "grep CapEff /proc/self/status"}})
	if want := "CapEff:\t00000000a80425fb\n"; stdout != want {
		t.Errorf("root's capabilities: %q, want Docker's %q", stdout, want)
	}
}

func TestRunNetworkNone(t *testing.T) {
	requireRoot(t)
	rootfs, _ := overlayRootfs(t, busyboxRootfs(t))
	ifaces := func(network string) []string {
		code, stdout, stderr := runIn(t, runc.Spec{Rootfs: rootfs, Network: network, Args: []string{"ls", "/sys/class/net"}})
		if code != 0 {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		return strings.Fields(stdout)
	}
	if diff := cmp.Diff([]string{"lo"}, ifaces("none")); diff != "" {
		t.Errorf("network none interfaces (-want +got):\n%s", diff)
	}
	// The host network shows the host's interfaces.
	hostIfaces, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Fatal(err)
	}
	if got := ifaces("host"); len(got) != len(hostIfaces) {
		t.Errorf("network host interfaces = %q, want the host's %d", got, len(hostIfaces))
	}
	code, stdout, _ := runIn(t, runc.Spec{Rootfs: rootfs, Network: "none", Args: []string{"cat", "/sys/class/net/lo/operstate"}})
	if code != 0 || strings.TrimSpace(stdout) == "down" {
		t.Errorf("lo in network none: exit %d, operstate %q", code, stdout)
	}
}

func TestRunResolverFiles(t *testing.T) {
	requireRoot(t)
	rootfs, _ := overlayRootfs(t, busyboxRootfs(t))
	for _, f := range []string{"/etc/resolv.conf", "/etc/hosts"} {
		host, err := os.ReadFile(f)
		if err != nil {
			t.Logf("host has no %s: %v", f, err)
			continue
		}
		code, stdout, stderr := runIn(t, runc.Spec{Rootfs: rootfs, Args: []string{"cat", f}})
		if code != 0 {
			t.Fatalf("cat %s: exit %d, stderr %q", f, code, stderr)
		}
		if diff := cmp.Diff(string(host), stdout); diff != "" {
			t.Errorf("%s (-host +container):\n%s", f, diff)
		}
		code, _, _ = runIn(t, runc.Spec{Rootfs: rootfs, Args: []string{"sh", "-c", "echo x >> " + f}})
		if code == 0 {
			t.Errorf("%s is writable in the container", f)
		}
	}
}

func TestRunExtraMounts(t *testing.T) {
	requireRoot(t)
	cache := t.TempDir()
	code, _, stderr := runIn(t, runc.Spec{
		Args: []string{"sh", "-c", "echo cached > /cache/f && mount | grep -q ' /scratch type tmpfs'"},
		Mounts: []specs.Mount{
			{Destination: "/cache", Type: "bind", Source: cache, Options: []string{"rbind", "rw"}},
			{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev"}},
		},
	})
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if data, err := os.ReadFile(filepath.Join(cache, "f")); err != nil || string(data) != "cached\n" {
		t.Errorf("cache mount content = %q, %v", data, err)
	}
}

func TestRunErrors(t *testing.T) {
	requireRoot(t)
	rootfs, _ := overlayRootfs(t, busyboxRootfs(t))
	for _, tc := range []struct {
		name string
		s    runc.Spec
		want string
	}{
		{"missing binary", runc.Spec{Args: []string{"/no/such/binary"}}, "no such file"},
		{"unknown user", runc.Spec{Args: []string{"true"}, User: "ghost"}, `no user "ghost"`},
		{"unknown network", runc.Spec{Args: []string{"true"}, Network: "bridge"}, "unknown network mode"},
		{"no args", runc.Spec{}, "no command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.s.ID, tc.s.Rootfs = newID(t), rootfs
			code, err := runc.Run(context.Background(), t.TempDir(), tc.s, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %d, %v; want an error containing %q", code, err, tc.want)
			}
			if testing.Verbose() {
				t.Log(err)
			}
		})
	}
}

func TestRunCancel(t *testing.T) {
	requireRoot(t)
	lower := busyboxRootfs(t)
	// Cancelled while runc starts the container, and while it runs.
	for _, delay := range []time.Duration{30 * time.Millisecond, 500 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			merged, _ := overlayRootfs(t, lower)
			id := newID(t)
			ctx, cancel := context.WithTimeout(context.Background(), delay)
			defer cancel()
			// The container sleeps for an hour: only the cancellation ends
			// Run within the hang guard's two minutes.
			errc := make(chan error, 1)
			go func() {
				_, err := runc.Run(ctx, t.TempDir(), runc.Spec{ID: id, Rootfs: merged, Args: []string{"sleep", "3600"}}, io.Discard, io.Discard)
				errc <- err
			}()
			var err error
			select {
			case err = <-errc:
			case <-time.After(2 * time.Minute):
				t.Fatal("Run hung: the cancellation did not stop the container")
			}
			if err == nil || ctx.Err() == nil {
				t.Fatalf("Run = %v, want the context's error", err)
			}
			out, err := exec.Command("runc", "--root", runc.RuncRoot, "list", "-q").CombinedOutput()
			if err != nil {
				t.Fatalf("runc list: %v\n%s", err, out)
			}
			if strings.Contains(string(out), id) {
				t.Errorf("container %s survived: runc list says %q", id, out)
			}
			// Nothing holds the rootfs: a plain unmount works at once.
			if err := unix.Unmount(merged, 0); err != nil {
				t.Errorf("unmounting after cancel: %v", err)
				overlay.Unmount(merged)
			}
			if isMounted(t, merged) {
				t.Errorf("%s is still mounted", merged)
			}
		})
	}
}

// BenchmarkTrivialRun measures one trivial step as a build runs it: mount
// a volatile overlay, run /bin/true on the build's network, unmount.
func BenchmarkTrivialRun(b *testing.B) {
	requireSlirp(b)
	lower := busyboxRootfs(b)
	bundle := b.TempDir()
	net := newNetwork(b)
	d := b.TempDir()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		trivialStep(b, filepath.Join(d, fmt.Sprint(i)), []string{lower}, bundle, net)
	}
}

// trivialStep runs /bin/true as a build runs a step: over a volatile
// overlay of lowers made in dir, on the build's network.
func trivialStep(b *testing.B, dir string, lowers []string, bundle string, net *runc.Network) {
	b.Helper()
	merged, upper, work := filepath.Join(dir, "merged"), filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	for _, p := range []string{merged, upper, work} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	if err := overlay.MountVolatile(merged, lowers, upper, work); err != nil {
		b.Skipf("overlay mount does not work here: %v", err)
	}
	code, err := runc.Run(context.Background(), bundle, runc.Spec{ID: newID(b), Rootfs: merged, Net: net, Args: []string{"/bin/true"}}, io.Discard, io.Discard)
	if err != nil || code != 0 {
		overlay.Unmount(merged)
		b.Fatalf("Run = %d, %v", code, err)
	}
	if err := overlay.Unmount(merged); err != nil {
		b.Fatal(err)
	}
}

// TestStubsLeaveNoTrace runs a step whose mount points are partly missing
// (resolver files, a cache mount below a missing dir, a file an earlier
// step of the same layer deleted) and checks the layer holds only what the
// step itself did.
func TestStubsLeaveNoTrace(t *testing.T) {
	requireRoot(t)
	lower := busyboxRootfs(t)
	if err := os.WriteFile(filepath.Join(lower, "etc/hosts"), []byte("127.0.0.1 lower\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	merged, upper := overlayRootfs(t, lower)
	// An earlier step of the same layer deleted /etc/hosts.
	if err := os.Remove(filepath.Join(merged, "etc/hosts")); err != nil {
		t.Fatal(err)
	}
	s := runc.Spec{
		ID:     newID(t),
		Rootfs: merged,
		Args:   []string{"sh", "-c", "echo hi > /newfile && echo c > /root/.cache/go/c"},
		Mounts: []specs.Mount{{Destination: "/root/.cache/go", Type: "bind", Source: t.TempDir(), Options: []string{"rbind", "rw"}}},
	}
	stubs, err := runc.FindStubs(merged, upper, s)
	if err != nil {
		t.Fatal(err)
	}
	wantStubs := []string{"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/root/.cache", "/root/.cache/go"}
	if _, err := os.Stat("/etc/resolv.conf"); err != nil {
		wantStubs = []string{"/etc/hostname", "/etc/hosts", "/root/.cache", "/root/.cache/go"}
	}
	if diff := cmp.Diff(wantStubs, stubs.Paths()); diff != "" {
		t.Errorf("stubs (-want +got):\n%s", diff)
	}
	var stderr bytes.Buffer
	code, err := runc.Run(context.Background(), t.TempDir(), s, io.Discard, &stderr)
	if err != nil || code != 0 {
		t.Fatalf("Run = %d, %v; stderr %s", code, err, stderr.String())
	}
	if err := overlay.Unmount(merged); err != nil {
		t.Fatal(err)
	}
	if err := stubs.Remove(upper); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := layer.WriteUpperDir(&buf, upper, layer.Options{Lowers: []string{lower}}); err != nil {
		t.Fatal(err)
	}
	want := []string{"etc/ dir", "etc/.wh.hosts reg 0", "newfile reg 3"}
	if diff := cmp.Diff(want, tarListing(t, &buf)); diff != "" {
		t.Errorf("layer (-want +got):\n%s", diff)
	}
}

func TestRunDockerDefaults(t *testing.T) {
	requireRoot(t)
	code, stdout, stderr := runIn(t, runc.Spec{Args: []string{"sh", "-c",
		`ulimit -n; grep -c " /sys sysfs ro," /proc/mounts; touch /proc/sys/x 2>/dev/null || echo procsys-ro; wc -c < /proc/timer_list; ls /sys/firmware | wc -l; echo $$`}})
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	want := "1024\n1\nprocsys-ro\n0\n0\n1\n"
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// BenchmarkMountUnmount measures the overlay part of a trivial step alone.
func BenchmarkMountUnmount(b *testing.B) {
	requireRoot(b)
	lower := busyboxRootfs(b)
	d := b.TempDir()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dir := filepath.Join(d, fmt.Sprint(i))
		merged, upper, work := filepath.Join(dir, "merged"), filepath.Join(dir, "upper"), filepath.Join(dir, "work")
		for _, p := range []string{merged, upper, work} {
			if err := os.MkdirAll(p, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := overlay.Mount(merged, []string{lower}, upper, work); err != nil {
			b.Skipf("overlay mount does not work here: %v", err)
		}
		if err := overlay.Unmount(merged); err != nil {
			b.Fatal(err)
		}
	}
}
