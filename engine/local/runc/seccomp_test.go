package runc_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/imgc-dev/imgc/engine/local/runc"
)

// x32Probe makes one x32 system call (getpid) on a thread of its own and
// says how it ended: "returned <errno>", or "killed" when the thread is
// gone without returning (the seccomp filter killed it).
const x32Probe = `package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() {
	done := make(chan syscall.Errno, 1)
	tids := make(chan int, 1)
	go func() {
		runtime.LockOSThread()
		tids <- syscall.Gettid()
		_, _, e := syscall.RawSyscall(0x40000000|39, 0, 0, 0)
		done <- e
	}()
	task := fmt.Sprintf("/proc/self/task/%d", <-tids)
	for {
		select {
		case e := <-done:
			fmt.Println("returned", int(e))
			return
		default:
		}
		// A killed thread is gone, or a zombie while it leads the process.
		stat, err := os.ReadFile(task + "/stat")
		if i := strings.LastIndexByte(string(stat), ')'); err != nil || i < 0 || strings.ContainsAny(string(stat[i+1:i+3]), "ZX") {
			fmt.Println("killed")
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
`

// TestSeccompX32 runs an x32 system call in a step. Where the kernel runs
// x32 programs, the profile keeps Docker's x32 rules and getpid works;
// where it does not, the profile leaves x32 out and the filter itself
// refuses the call (the kernel alone would answer ENOSYS, 38): leaving x32
// out of the profile opens nothing.
func TestSeccompX32(t *testing.T) {
	requireRoot(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("the x32 ABI is an amd64 one")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command on PATH to build the x32 probe")
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(x32Probe), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module x32probe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lower := busyboxRootfs(t)
	cmd := exec.Command(goBin, "build", "-o", filepath.Join(lower, "x32probe"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the probe: %v\n%s", err, out)
	}
	merged, _ := overlayRootfs(t, lower)
	// A hang guard only: the probe answers at once either way.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code, err := runc.Run(ctx, t.TempDir(), runc.Spec{ID: newID(t), Rootfs: merged, Network: "none", Args: []string{"/x32probe"}}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("Run: %v\nstderr: %s", err, stderr.String())
	}
	got := strings.TrimSpace(stdout.String())
	if runc.KernelRunsX32() {
		if code != 0 || got != "returned 0" {
			t.Errorf("x32 getpid where the kernel runs x32: exit %d, %q (stderr %q), want it to work as under Docker's profile", code, got, stderr.String())
		}
		return
	}
	// The filter kills the thread (or, with another runc default, the
	// process: SIGSYS, exit 159).
	if got != "killed" && code != 128+31 {
		t.Errorf("x32 getpid where the kernel has no x32: exit %d, %q (stderr %q), want the seccomp filter to refuse it", code, got, stderr.String())
	}
}
