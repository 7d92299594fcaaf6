package testbase

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BinfmtAarch64 is the binfmt_misc handler `make deps` registers for
// arm64 binaries (QEMU user emulation, with the F flag).
const BinfmtAarch64 = "/proc/sys/fs/binfmt_misc/qemu-aarch64"

var (
	arm64Once sync.Once
	arm64Dir  string
	arm64Err  error
	multiOnce sync.Once
	multiDir  string
	multiErr  error
)

// RequireArm64 skips the test unless it runs as root on an amd64 host where
// arm64 binaries run through a binfmt_misc handler with the F flag, which
// `make deps` registers (.ci/binfmt).
func RequireArm64(t testing.TB) {
	t.Helper()
	Require(t)
	if goruntime.GOARCH != "amd64" {
		t.Skipf("skipping: the foreign-platform tests emulate arm64 on an amd64 host, and this host is %s", goruntime.GOARCH)
	}
	data, err := os.ReadFile(BinfmtAarch64)
	if err != nil || !strings.Contains(string(data), "enabled") {
		t.Skipf("skipping: no binfmt_misc handler for arm64 (%s); run `make deps` (installs qemu-user-static and registers it)", BinfmtAarch64)
	}
}

// Arm64Runs tells whether RequireArm64 would let a test run.
func Arm64Runs() bool {
	if os.Geteuid() != 0 || goruntime.GOARCH != "amd64" {
		return false
	}
	if _, err := os.Stat(BusyboxPath); err != nil {
		return false
	}
	data, err := os.ReadFile(BinfmtAarch64)
	return err == nil && strings.Contains(string(data), "enabled")
}

// BusyboxArm64 returns the path of an OCI image layout holding one
// linux/arm64 image tagged "latest", laid out as Busybox's but around
// Debian's arm64 busybox-static. The .deb is fetched once with apt (a private
// state directory and APT::Architecture=arm64, nothing installed), unpacked
// with dpkg-deb -x, and cached in the temporary directory with the layout
// for every later test process.
func BusyboxArm64(t testing.TB) string {
	t.Helper()
	Require(t)
	arm64Once.Do(func() { arm64Dir, arm64Err = makeArm64Layout() })
	if arm64Err != nil {
		t.Fatalf("making the arm64 busybox test base: %v", arm64Err)
	}
	return arm64Dir
}

// MultiArch returns the path of an OCI image layout whose index.json names
// one image index tagged "latest" holding the busybox images of Busybox
// (linux/amd64, the host's) and BusyboxArm64 (linux/arm64), as a registry's
// multi-platform image is laid out.
func MultiArch(t testing.TB) string {
	t.Helper()
	amd := Busybox(t)
	arm := BusyboxArm64(t)
	multiOnce.Do(func() { multiDir, multiErr = makeMultiLayout(amd, arm) })
	if multiErr != nil {
		t.Fatalf("making the multi-platform test base: %v", multiErr)
	}
	return multiDir
}

// arm64Deb fetches busybox-static for arm64 into the temporary directory
// once per machine and returns the .deb's path.
func arm64Deb() (string, error) {
	cache := filepath.Join(os.TempDir(), "imgc-testbase-debs")
	deb := filepath.Join(cache, "busybox-static_arm64.deb")
	if _, err := os.Stat(deb); err == nil {
		return deb, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(cache, "apt-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	for _, d := range []string{"lists/partial", "cache/archives/partial", "dl"} {
		if err := os.MkdirAll(filepath.Join(tmp, d), 0o755); err != nil {
			return "", err
		}
	}
	opts := []string{
		"-o", "Dir::State=" + tmp, "-o", "Dir::State::Lists=" + filepath.Join(tmp, "lists"),
		"-o", "Dir::Cache=" + filepath.Join(tmp, "cache"), "-o", "Dir::State::status=/dev/null",
		"-o", "APT::Architecture=arm64", "-o", "APT::Architectures=arm64",
		"-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root", "-qq",
	}
	for _, args := range [][]string{{"update"}, {"download", "busybox-static"}} {
		cmd := exec.Command("apt-get", append(opts, args...)...)
		cmd.Dir = filepath.Join(tmp, "dl")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get %s for arm64: %v: %s", args[0], err, out)
		}
	}
	m, _ := filepath.Glob(filepath.Join(tmp, "dl", "busybox-static_*_arm64.deb"))
	if len(m) != 1 {
		return "", fmt.Errorf("apt-get download busybox-static for arm64 left %q", m)
	}
	if err := os.Rename(m[0], deb); err != nil {
		return "", err
	}
	return deb, nil
}

func makeArm64Layout() (string, error) {
	deb, err := arm64Deb()
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(deb)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(append([]byte(layoutVersion+"\x00"), data...))
	dir := filepath.Join(os.TempDir(), "imgc-testbase-busybox-arm64-"+hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err == nil {
		return dir, nil
	}
	x, err := os.MkdirTemp("", "imgc-testbase-deb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(x)
	if out, err := exec.Command("dpkg-deb", "-x", deb, x).CombinedOutput(); err != nil {
		return "", fmt.Errorf("unpacking %s: %v: %s", deb, err, out)
	}
	bin, err := os.ReadFile(filepath.Join(x, "bin", "busybox"))
	if err != nil {
		return "", fmt.Errorf("reading the arm64 busybox: %w", err)
	}
	layer, err := busyboxLayerTar(bin)
	if err != nil {
		return "", err
	}
	img, err := busyboxImage(layer, "arm64", "", "Debian's busybox-static for arm64")
	if err != nil {
		return "", err
	}
	return writeLayout(dir, func(p layout.Path) error {
		return p.AppendImage(img, layout.WithAnnotations(map[string]string{
			"org.opencontainers.image.ref.name": "latest",
		}))
	})
}

func makeMultiLayout(amdDir, armDir string) (string, error) {
	amd, err := FindLayoutImage(amdDir, "latest")
	if err != nil {
		return "", err
	}
	arm, err := FindLayoutImage(armDir, "latest")
	if err != nil {
		return "", err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, a := range []struct {
		img  v1.Image
		arch string
	}{{amd, goruntime.GOARCH}, {arm, "arm64"}} {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        a.img,
			Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1, Platform: &v1.Platform{OS: "linux", Architecture: a.arch}},
		})
	}
	d, err := idx.Digest()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(os.TempDir(), "imgc-testbase-busybox-multi-"+d.Hex[:16])
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err == nil {
		return dir, nil
	}
	return writeLayout(dir, func(p layout.Path) error {
		return p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
			"org.opencontainers.image.ref.name": "latest",
		}))
	})
}

// writeLayout writes a layout with fill into a temporary directory and
// renames it to dir, so that concurrent test processes never see half of
// one; a process that loses the race uses the winner's.
func writeLayout(dir string, fill func(layout.Path) error) (string, error) {
	tmp, err := os.MkdirTemp(os.TempDir(), "imgc-testbase-tmp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return "", fmt.Errorf("writing layout: %w", err)
	}
	if err := fill(p); err != nil {
		return "", fmt.Errorf("writing layout: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "index.json")); serr == nil {
			return dir, nil
		}
		return "", fmt.Errorf("writing layout: %w", err)
	}
	return dir, nil
}

// MultiArchLayout is MultiArch for programs that are not tests (the
// benchmarks' base maker): the layout's path, or why it could not be made.
func MultiArchLayout() (string, error) {
	once.Do(func() { layoutDir, onceErr = makeBusyboxLayout() })
	if onceErr != nil {
		return "", fmt.Errorf("making the amd64 busybox base: %w", onceErr)
	}
	arm64Once.Do(func() { arm64Dir, arm64Err = makeArm64Layout() })
	if arm64Err != nil {
		return "", fmt.Errorf("making the arm64 busybox base: %w", arm64Err)
	}
	multiOnce.Do(func() { multiDir, multiErr = makeMultiLayout(layoutDir, arm64Dir) })
	return multiDir, multiErr
}
