package runc_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgc-dev/imgc/internal/overlay"
	"golang.org/x/sys/unix"
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: runc and overlay mounts")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("needs runc on PATH")
	}
}

// busyboxRootfs makes a minimal busybox root filesystem.
func busyboxRootfs(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs a static /bin/busybox")
	}
	r := filepath.Join(t.TempDir(), "rootfs")
	for _, d := range []string{"bin", "etc", "tmp", "root", "proc", "sys", "dev"} {
		if err := os.MkdirAll(filepath.Join(r, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	// In a chroot, busybox cannot read /proc/self/exe and installs the
	// applets relative to the new root instead of the host's /bin.
	if out, err := exec.Command("chroot", r, "/bin/busybox", "--install", "-s", "/bin").CombinedOutput(); err != nil {
		t.Fatalf("installing busybox applets: %v\n%s", err, out)
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nbuilder:x:1000:1000::/home/builder:/bin/sh\n",
		"etc/group":  "root:x:0:\nwheel:x:10:builder\nnogroup:x:65534:\nbuilder:x:1000:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(r, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// overlayRootfs mounts a writable overlay over lower and returns the mount
// point and the upper dir; the mount goes away with the test.
func overlayRootfs(t testing.TB, lower string) (merged, upper string) {
	t.Helper()
	d := t.TempDir()
	merged, upper, work := filepath.Join(d, "merged"), filepath.Join(d, "upper"), filepath.Join(d, "work")
	for _, p := range []string{merged, upper, work} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := overlay.Mount(merged, []string{lower}, upper, work); err != nil {
		t.Skipf("overlay mount does not work here: %v", err)
	}
	t.Cleanup(func() {
		if err := overlay.Unmount(merged); err != nil && !errors.Is(err, unix.EINVAL) {
			t.Errorf("unmounting: %v", err)
		}
	})
	return merged, upper
}

func isMounted(t testing.TB, p string) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == p {
			return true
		}
	}
	return false
}
