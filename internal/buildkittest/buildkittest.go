// Package buildkittest runs a private buildkitd for tests: a temporary
// state directory, a short socket path under /tmp, the OCI worker with
// runc and overlayfs, stopped by its PID when the tests end.
package buildkittest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/imgc-dev/imgc/internal/overlay"
)

// DefaultBinDir is where `make deps` installs buildkitd and buildctl.
const DefaultBinDir = "/usr/local/libexec/imgc/buildkit"

// BinDir is IMGC_BUILDKIT_BIN or DefaultBinDir.
func BinDir() string {
	if d := os.Getenv("IMGC_BUILDKIT_BIN"); d != "" {
		return d
	}
	return DefaultBinDir
}

// Daemon is a running buildkitd.
type Daemon struct {
	Addr string
	dir  string
	cmd  *exec.Cmd
}

// Start starts a buildkitd; extra are more buildkitd flags.
func Start(extra ...string) (*Daemon, error) {
	bin := filepath.Join(BinDir(), "buildkitd")
	ctl := filepath.Join(BinDir(), "buildctl")
	dir, err := os.MkdirTemp("/tmp", "imgc-bk-")
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "s.sock")
	d := &Daemon{Addr: "unix://" + sock, dir: dir}
	args := append([]string{"--root", filepath.Join(dir, "root"), "--addr", d.Addr,
		"--oci-worker=true", "--containerd-worker=false", "--oci-worker-binary=runc",
		"--oci-worker-net=host", "--oci-worker-snapshotter=overlayfs"}, extra...)
	log, err := os.Create(filepath.Join(dir, "buildkitd.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer log.Close()
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = log, log
	// Pdeathsig: a test binary that panics or is killed skips every
	// cleanup; its daemon must not outlive it.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGTERM}
	// The signal comes when the OS thread that started the daemon exits, not
	// the process, and Go ends a thread whose goroutine exits while locked to
	// it (as the overlay mounter's does): start the daemon from a thread of
	// its own, kept until the daemon exits.
	started, exited := make(chan error), make(chan struct{})
	go func() {
		runtime.LockOSThread()
		err := d.cmd.Start()
		started <- err
		if err == nil {
			d.cmd.Wait()
			close(exited)
		}
	}()
	if err := <-started; err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting buildkitd: %w", err)
	}
	for i := 0; i < 200; i++ {
		if exec.Command(ctl, "--addr", d.Addr, "debug", "workers").Run() == nil {
			return d, nil
		}
		select {
		case <-exited:
			data, _ := os.ReadFile(filepath.Join(dir, "buildkitd.log"))
			os.RemoveAll(dir)
			return nil, fmt.Errorf("buildkitd exited: %s", tail(string(data)))
		case <-time.After(100 * time.Millisecond):
		}
	}
	d.Stop()
	return nil, fmt.Errorf("buildkitd did not come up in 20 s")
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// Stop stops the daemon by its PID and removes its state.
func (d *Daemon) Stop() {
	if d.cmd != nil && d.cmd.Process != nil {
		d.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() {
			for i := 0; i < 100; i++ {
				if d.cmd.ProcessState != nil || syscall.Kill(d.cmd.Process.Pid, 0) != nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			close(done)
		}()
		<-done
		d.cmd.Process.Kill()
	}
	// The worker's overlay mounts go with a daemon that stops; one that
	// was killed leaves them, to unmount before its files go.
	overlay.UnmountBelow(d.dir)
	os.RemoveAll(d.dir)
}

// Kill kills the daemon at once (SIGKILL), as a crash would; Stop still
// removes its state.
func (d *Daemon) Kill() {
	if d.cmd != nil && d.cmd.Process != nil {
		d.cmd.Process.Kill()
	}
}

var (
	mu     sync.Mutex
	shared *Daemon
	err0   error
)

// Require returns the address of the package's shared daemon, starting it
// at the first call. It skips the test when the binaries are absent and
// this is not CI (in CI, `make deps` installs them, so their absence fails
// the test), or when the machine cannot run containers (not root).
func Require(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: buildkitd with the OCI worker needs root")
	}
	if _, err := os.Stat(filepath.Join(BinDir(), "buildkitd")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("buildkitd is missing in CI (make deps installs it into %s): %v", BinDir(), err)
		}
		t.Skipf("skipping: buildkitd is not installed in %s (make deps installs it; IMGC_BUILDKIT_BIN overrides the directory)", BinDir())
	}
	mu.Lock()
	defer mu.Unlock()
	if shared == nil && err0 == nil {
		shared, err0 = Start()
	}
	if err0 != nil {
		t.Fatalf("starting buildkitd: %v", err0)
	}
	return shared.Addr
}

// Main runs the tests and stops the shared daemon, if one was started.
func Main(m *testing.M) {
	code := m.Run()
	mu.Lock()
	if shared != nil {
		shared.Stop()
	}
	mu.Unlock()
	os.Exit(code)
}

// Available starts a daemon for t, stopped when t ends, and returns its
// address; ok is false (with the reason) when the binaries are absent
// outside CI or the machine cannot run it, for tests that only use a
// daemon when there is one. In CI a missing binary fails t.
func Available(t testing.TB) (addr string, ok bool, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return "", false, "buildkitd with the OCI worker needs root"
	}
	if _, err := os.Stat(filepath.Join(BinDir(), "buildkitd")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("buildkitd is missing in CI (make deps installs it into %s): %v", BinDir(), err)
		}
		return "", false, fmt.Sprintf("buildkitd is not installed in %s (make deps installs it)", BinDir())
	}
	d, err := Start()
	if err != nil {
		t.Fatalf("starting buildkitd: %v", err)
	}
	t.Cleanup(d.Stop)
	return d.Addr, true, ""
}
