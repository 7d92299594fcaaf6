package stdlib_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imgc-dev/imgc/compiler"
	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/internal/testbase"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/store"
)

// buildOnBusybox builds the configuration src on the busybox test base into
// an OCI layout and returns the layout, or the build error. The runtime
// checks every macro step's declared writes against its layer, so a
// successful build also proves the declarations honest.
func buildOnBusybox(t *testing.T, src string) (string, error) {
	t.Helper()
	testbase.Require(t)
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("skipping: needs runc on PATH")
	}
	if data, err := os.ReadFile("/proc/filesystems"); err != nil || !strings.Contains(string(data), "overlay") {
		t.Skip("skipping: needs overlayfs")
	}
	base := testbase.Busybox(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "m.image.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := lang.Load(dir, lang.Options{Vars: lang.FlagVars(map[string]string{"base": "oci:" + base + ":latest"})})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	store, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	plan, diags := compiler.Compile(cfg, compiler.Options{Resolve: compiler.ResolverFunc(func(ref imageref.Ref, _ ir.Platform) (string, error) {
		return imageio.ResolveBase(ctx, ref, ir.Platform{OS: "linux", Architecture: goruntime.GOARCH})
	})})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	out := filepath.Join(t.TempDir(), "out")
	_, err = local.New(store).Build(ctx, plan, engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}})
	return out, err
}

// TestUserOnBusybox runs the user macro where neither useradd nor adduser
// exists (Debian's busybox has neither applet), with and without ids and
// with a group that already exists.
func TestUserOnBusybox(t *testing.T) {
	out, err := buildOnBusybox(t, `
variable "base" { type = string }

image "users" {
  from = var.base
  tags = ["users"]
  user { name = "first" }
  user { name = "second" }
  user {
    name = "svc"
    uid  = 4000
    gid  = 65534
    home = "/var/lib/svc"
  }
  user {
    name  = "app"
    uid   = 1234
    shell = "/bin/false"
  }
}
`)
	if err != nil {
		var se *engine.StepError
		if errors.As(err, &se) {
			t.Fatalf("%v\n%s", err, strings.Join(se.Tail, "\n"))
		}
		t.Fatal(err)
	}
	root := testbase.Rootfs(t, testbase.LayoutImage(t, out, "users"))
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	passwd, group, shadow := read("etc/passwd"), read("etc/group"), read("etc/shadow")
	for _, want := range []string{
		"first:x:1000:1000::/home/first:/bin/sh\n",
		"second:x:1001:1001::/home/second:/bin/sh\n", // the next free uid
		"svc:x:4000:65534::/var/lib/svc:/bin/sh\n",   // the existing group nobody
		"app:x:1234:1234::/home/app:/bin/false\n",
	} {
		if !strings.Contains(passwd, want) {
			t.Errorf("/etc/passwd lacks %q:\n%s", want, passwd)
		}
	}
	for _, want := range []string{"first:x:1000:\n", "second:x:1001:\n", "app:x:1234:\n"} {
		if !strings.Contains(group, want) {
			t.Errorf("/etc/group lacks %q:\n%s", want, group)
		}
	}
	if strings.Contains(group, "svc") {
		t.Errorf("/etc/group has a group for svc, whose gid 65534 existed:\n%s", group)
	}
	if !strings.Contains(shadow, "app:!:::::::\n") {
		t.Errorf("/etc/shadow lacks a locked entry for app:\n%s", shadow)
	}
	for home, uid := range map[string]int{"home/first": 1000, "var/lib/svc": 4000, "home/app": 1234} {
		fi, err := os.Stat(filepath.Join(root, home))
		if err != nil || !fi.IsDir() {
			t.Errorf("home %s is missing: %v", home, err)
			continue
		}
		if got := ownerUID(fi); got != uid {
			t.Errorf("home %s is owned by %d, want %d", home, got, uid)
		}
	}
}

// TestTimezoneWithoutZoneinfo: with install = false on an image without
// tzdata, the step fails and says why.
func TestTimezoneWithoutZoneinfo(t *testing.T) {
	_, err := buildOnBusybox(t, `
variable "base" { type = string }

image "tz" {
  from = var.base
  tags = ["tz"]
  timezone {
    zone    = "Europe/Berlin"
    install = false
  }
}
`)
	var se *engine.StepError
	if !errors.As(err, &se) {
		t.Fatalf("build error = %v, want a step error", err)
	}
	if tail := strings.Join(se.Tail, "\n"); !strings.Contains(tail, "time zone Europe/Berlin is not in /usr/share/zoneinfo") {
		t.Errorf("the step's output does not say why it failed:\n%s", tail)
	}
}

func ownerUID(fi os.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
