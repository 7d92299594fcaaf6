package overlay

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
}

func mkdirs(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func write(t *testing.T, p, content string) {
	t.Helper()
	mkdirs(t, filepath.Dir(p))
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func mounted(t *testing.T, p string) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == p {
			return true
		}
	}
	return false
}

func mustMount(t *testing.T, mount func() error, target string) {
	t.Helper()
	if err := mount(); err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENODEV) {
			t.Skipf("overlay mounts do not work here: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if mounted(t, target) {
			if err := Unmount(target); err != nil {
				t.Errorf("unmounting %s: %v", target, err)
			}
		}
	})
}

// manyLowers makes n lower dirs with long names (so that their absolute
// paths do not fit in one page of mount options), each with its own file
// and its version of a shared one.
func manyLowers(t *testing.T, n int) []string {
	t.Helper()
	base := filepath.Join(t.TempDir(), "layers")
	lowers := make([]string, n)
	for i := range lowers {
		lowers[i] = filepath.Join(base, fmt.Sprintf("sha256-%064d", i), "fs")
		write(t, filepath.Join(lowers[i], fmt.Sprintf("f%d", i)), "x")
		write(t, filepath.Join(lowers[i], "shared"), fmt.Sprint(i))
	}
	return lowers
}

func checkManyLowers(t *testing.T, target string, lowers []string) {
	t.Helper()
	if got := read(t, filepath.Join(target, "shared")); got != "0" {
		t.Errorf("shared = %q, want the top lower's %q", got, "0")
	}
	entries, err := os.ReadDir(target)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(lowers)+1 {
		t.Errorf("merged dir has %d entries, want %d", len(entries), len(lowers)+1)
	}
}

func TestMountManyLowers(t *testing.T) {
	requireRoot(t)
	lowers := manyLowers(t, 120)
	if n := len(strings.Join(lowers, ":")); n < 2*os.Getpagesize() {
		t.Fatalf("lower dir list is only %d bytes: the test does not exercise long options", n)
	}
	d := t.TempDir()
	target, upper, work := filepath.Join(d, "merged"), filepath.Join(d, "upper"), filepath.Join(d, "work")
	mkdirs(t, target, upper, work)
	mustMount(t, func() error { return Mount(target, lowers, upper, work) }, target)
	checkManyLowers(t, target, lowers)
	write(t, filepath.Join(target, "new"), "upper")
	if got := read(t, filepath.Join(upper, "new")); got != "upper" {
		t.Errorf("upper/new = %q", got)
	}
	// The mount table names each lower by a short name, not its path:
	// runc reads this line several times per container.
	if line := mountLine(t, target); len(line) > 2048 {
		t.Errorf("mountinfo line of the overlay is %d bytes, want at most 2048:\n%.300s...", len(line), line)
	}
	if err := Unmount(target); err != nil {
		t.Fatal(err)
	}
	if mounted(t, target) {
		t.Error("still mounted")
	}
}

// mountLine is the line of /proc/self/mountinfo that mounts p.
func mountLine(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == p {
			return line
		}
	}
	t.Fatalf("%s is not mounted", p)
	return ""
}

// TestMountLegacyManyLowers exercises the mount(2) fallback for kernels
// without "lowerdir+": short symlinks in a private working directory.
func TestMountLegacyManyLowers(t *testing.T) {
	requireRoot(t)
	lowers := manyLowers(t, 120)
	d := t.TempDir()
	target, upper, work := filepath.Join(d, "merged"), filepath.Join(d, "upper"), filepath.Join(d, "work")
	mkdirs(t, target, upper, work)
	wd, _ := os.Getwd()
	mustMount(t, func() error { return mountLegacy(target, lowers, upper, work, false) }, target)
	checkManyLowers(t, target, lowers)
	if now, _ := os.Getwd(); now != wd {
		t.Errorf("working directory changed to %s", now)
	}
	target2 := filepath.Join(d, "ro")
	mkdirs(t, target2)
	mustMount(t, func() error { return mountLegacy(target2, lowers, "", "", false) }, target2)
	checkManyLowers(t, target2, lowers)
}

func TestMountReadOnly(t *testing.T) {
	requireRoot(t)
	d := t.TempDir()
	a, b := filepath.Join(d, "a"), filepath.Join(d, "b")
	write(t, filepath.Join(a, "f"), "a")
	write(t, filepath.Join(b, "f"), "b")
	write(t, filepath.Join(b, "g"), "b")
	for _, tc := range []struct {
		name   string
		lowers []string
		want   []string
	}{
		{"bind", []string{a}, []string{"f"}},
		{"overlay", []string{a, b}, []string{"f", "g"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := filepath.Join(d, tc.name)
			mkdirs(t, target)
			mustMount(t, func() error { return Mount(target, tc.lowers, "", "") }, target)
			var got []string
			entries, _ := os.ReadDir(target)
			for _, e := range entries {
				got = append(got, e.Name())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
			if got := read(t, filepath.Join(target, "f")); got != "a" {
				t.Errorf("f = %q, want the top lower's", got)
			}
			err := os.WriteFile(filepath.Join(target, "new"), nil, 0o644)
			if !errors.Is(err, unix.EROFS) {
				t.Errorf("writing: %v, want EROFS", err)
			}
		})
	}
}

func TestMountNoLowers(t *testing.T) {
	requireRoot(t)
	d := t.TempDir()
	target, upper, work := filepath.Join(d, "merged"), filepath.Join(d, "upper"), filepath.Join(d, "work")
	mkdirs(t, target, upper, work)
	mustMount(t, func() error { return Mount(target, nil, upper, work) }, target)
	write(t, filepath.Join(target, "etc/new"), "x")
	if got := read(t, filepath.Join(upper, "etc/new")); got != "x" {
		t.Errorf("upper/etc/new = %q", got)
	}
	entries, err := os.ReadDir(EmptyDir)
	if err != nil || len(entries) != 0 {
		t.Errorf("%s: %d entries, %v", EmptyDir, len(entries), err)
	}
}

func TestMountSpecialCharacters(t *testing.T) {
	requireRoot(t)
	d := t.TempDir()
	lower := filepath.Join(d, "a:b,c")
	write(t, filepath.Join(lower, "f"), "odd")
	target, upper, work := filepath.Join(d, "merged"), filepath.Join(d, "up,per"), filepath.Join(d, "work")
	mkdirs(t, target, upper, work)
	mustMount(t, func() error { return Mount(target, []string{lower}, upper, work) }, target)
	if got := read(t, filepath.Join(target, "f")); got != "odd" {
		t.Errorf("f = %q", got)
	}
}

func TestMountErrors(t *testing.T) {
	d := t.TempDir()
	for _, tc := range []struct {
		name              string
		lowers            []string
		upper, work, want string
	}{
		{"nothing", nil, "", "", "no lower dirs and no upper dir"},
		{"upper without work", []string{d}, d, "", "upper and work dirs go together"},
		{"empty lower", []string{""}, "", "", "empty lower dir path"},
	} {
		err := Mount(filepath.Join(d, "x"), tc.lowers, tc.upper, tc.work)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Mount error = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	requireRoot(t)
	if err := Mount(filepath.Join(d, "x"), []string{filepath.Join(d, "missing"), d}, "", ""); err == nil {
		t.Error("missing lower dir: no error")
	}
	if err := Unmount(d); !errors.Is(err, unix.EINVAL) {
		t.Errorf("unmounting a directory that is no mount: %v, want EINVAL", err)
	}
}

func TestUnmountBusy(t *testing.T) {
	requireRoot(t)
	d := t.TempDir()
	lower, target, upper, work := filepath.Join(d, "lower"), filepath.Join(d, "merged"), filepath.Join(d, "upper"), filepath.Join(d, "work")
	write(t, filepath.Join(lower, "f"), "x")
	mkdirs(t, target, upper, work)
	mustMount(t, func() error { return Mount(target, []string{lower}, upper, work) }, target)
	f, err := os.Open(filepath.Join(target, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	if err := Unmount(target); err != nil {
		t.Fatal(err)
	}
	if mounted(t, target) {
		t.Error("busy mount is still attached after Unmount")
	}
	t.Logf("busy unmount took %v", time.Since(start))
}

// TestMountVolatile checks both mount paths of MountVolatile: the overlay
// carries "volatile" (so unmounting it does not sync the upper dir's
// filesystem), what was written is in the upper dir after the unmount, and
// the used work dir is refused by a second mount, as MountVolatile says.
func TestMountVolatile(t *testing.T) {
	requireRoot(t)
	for name, mount := range mounters(true) {
		t.Run(name, func(t *testing.T) {
			d := t.TempDir()
			lower, target, upper, work := filepath.Join(d, "lower"), filepath.Join(d, "merged"), filepath.Join(d, "upper"), filepath.Join(d, "work")
			mkdirs(t, lower, target, upper, work)
			write(t, filepath.Join(lower, "a"), "lower\n")
			mustMount(t, func() error { return mount(target, []string{lower}, upper, work) }, target)
			// Linux 6.x shows the option as fsync=volatile.
			if line := mountLine(t, target); !strings.Contains(line, ",volatile") && !strings.Contains(line, "fsync=volatile") {
				if kernelAtLeast(t, 5, 10) {
					t.Fatalf("the overlay is not volatile: %s", line)
				}
				t.Skipf("the kernel has no volatile overlays (before 5.10): %s", line)
			}
			write(t, filepath.Join(target, "b"), "step\n")
			if err := Unmount(target); err != nil {
				t.Fatal(err)
			}
			if got := read(t, filepath.Join(upper, "b")); got != "step\n" {
				t.Errorf("upper/b = %q, want the step's write", got)
			}
			if err := mount(target, []string{lower}, upper, work); err == nil {
				Unmount(target)
				t.Errorf("a second volatile mount over the same work dir worked; MountVolatile's doc says the kernel refuses it")
			}
			work2 := filepath.Join(d, "work2")
			mkdirs(t, work2)
			mustMount(t, func() error { return mount(target, []string{lower}, upper, work2) }, target)
			if got := read(t, filepath.Join(target, "b")); got != "step\n" {
				t.Errorf("b over a fresh work dir = %q, want the step's write", got)
			}
		})
	}
	if err := MountVolatile(t.TempDir(), []string{t.TempDir()}, "", ""); err == nil {
		t.Errorf("MountVolatile without an upper dir worked")
	}
}

func kernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		t.Fatalf("reading the kernel release %q: %v", u.Release, err)
	}
	return ma > major || ma == major && mi >= minor
}

// TestMountIsNotVolatile: plain Mount keeps the kernel's sync at unmount,
// so its work dir can be mounted again (a volatile mount's cannot).
func TestMountIsNotVolatile(t *testing.T) {
	requireRoot(t)
	for name, mount := range mounters(false) {
		t.Run(name, func(t *testing.T) {
			d := t.TempDir()
			lower, target, upper, work := filepath.Join(d, "lower"), filepath.Join(d, "merged"), filepath.Join(d, "upper"), filepath.Join(d, "work")
			mkdirs(t, lower, target, upper, work)
			mustMount(t, func() error { return mount(target, []string{lower}, upper, work) }, target)
			if line := mountLine(t, target); strings.Contains(line, ",volatile") || strings.Contains(line, "fsync=volatile") {
				t.Errorf("a plain mount is volatile: %s", line)
			}
			if err := Unmount(target); err != nil {
				t.Fatal(err)
			}
			mustMount(t, func() error { return mount(target, []string{lower}, upper, work) }, target)
		})
	}
}

// mounters are the two ways to mount (the mount API and mount(2)'s
// options), volatile or not.
func mounters(volatile bool) map[string]func(target string, lowers []string, upper, work string) error {
	api := Mount
	if volatile {
		api = MountVolatile
	}
	return map[string]func(target string, lowers []string, upper, work string) error{
		"fsconfig": api,
		"legacy": func(target string, lowers []string, upper, work string) error {
			return mountLegacy(target, lowers, upper, work, volatile)
		},
	}
}
