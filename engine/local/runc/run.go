package runc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// RuncRoot is runc's state directory (runc --root).
var RuncRoot = "/run/imgc-runc"

// killTimeout bounds how long a cancelled Run waits for `runc kill` to take
// effect before it kills runc itself.
const killTimeout = 10 * time.Second

// Run writes an OCI runtime bundle (config.json) in bundleDir (when empty, in a fresh directory
// of BundleRoot, in memory, removed when Run returns) and runs `runc run` (see Binary) with no
// terminal; stdout/stderr are streamed to the writers (nil discards). The defaults follow
// Docker's: mounts (proc, dev tmpfs, devpts, shm, mqueue, sysfs ro, cgroup ro), the host's
// /etc/resolv.conf and /etc/hosts bound read-only with a generated /etc/hostname, Docker's
// default capability set, masked and read-only paths, rlimit NOFILE 1024 (never above the
// host's hard limit), a writable root and no cgroup limits. It returns the process's exit code
// (a non-zero exit is not an error; a process killed by a signal reports 128+signal). ctx
// cancellation kills the container (SIGKILL via `runc kill`), waits, and `runc delete --force`s
// it: nothing is left running by Run itself. A rootfs whose /dev, /proc, /sys, /etc/hosts,
// /etc/hostname or /etc/resolv.conf (or a parent of them) is a symlink is refused with a
// *RuntimePathError.
func Run(ctx context.Context, bundleDir string, s Spec, stdout, stderr io.Writer) (exitCode int, err error) {
	if err := run(ctx, bundleDir, s, stdout, stderr, &exitCode); err != nil {
		return -1, fmt.Errorf("running container %s: %w", s.ID, err)
	}
	return exitCode, nil
}

func run(ctx context.Context, bundleDir string, s Spec, stdout, stderr io.Writer, exitCode *int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.ID == "" {
		return errors.New("no container id")
	}
	if s.Rootfs == "" {
		return errors.New("no rootfs")
	}
	rootfs, err := filepath.Abs(s.Rootfs)
	if err != nil {
		return err
	}
	s.Rootfs = rootfs
	runcPath, err := Binary()
	if err != nil {
		return err
	}
	if err := checkRuntimePaths(s.Rootfs); err != nil {
		return err
	}
	u, err := resolveUser(ctx, s.Rootfs, s.User)
	if err != nil {
		return err
	}
	if s.Cwd != "" {
		if err := mkdirWorkdir(s.Rootfs, s.Cwd, u); err != nil {
			return fmt.Errorf("creating working directory: %w", err)
		}
	}
	if bundleDir == "" {
		dir, remove, err := NewBundle()
		if err != nil {
			return err
		}
		defer remove()
		bundleDir = dir
	}
	bundleDir, err = filepath.Abs(bundleDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(bundleDir, 0o700); err != nil {
		return fmt.Errorf("creating bundle: %w", err)
	}
	hostname := s.Hostname
	if hostname == "" {
		hostname = DefaultHostname
	}
	hostnameFile := filepath.Join(bundleDir, "hostname")
	if err := os.WriteFile(hostnameFile, []byte(hostname+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing bundle: %w", err)
	}
	if (s.Network == "" || s.Network == "default") && s.Net == nil {
		// No build-wide network to join: one for this run (see network.go).
		if s.Net, err = NewNetwork(ctx, s.Ports...); err != nil {
			return err
		}
		defer s.Net.Close()
	}
	spec, err := ociSpec(s, u, hostnameFile)
	if err != nil {
		return err
	}
	config, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return fmt.Errorf("encoding config.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(bundleDir, "config.json"), config, 0o600); err != nil {
		return fmt.Errorf("writing bundle: %w", err)
	}
	for _, f := range []string{filepath.Join(bundleDir, "init.pid"), filepath.Join(bundleDir, "runc.log")} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("writing bundle: %w", err)
		}
	}

	return runRunc(ctx, runcPath, bundleDir, s.ID, s.Stdin, stdout, stderr, exitCode)
}

// runRunc runs the container id of the bundle bundleDir with runc and
// waits for it, killing and deleting it when ctx is cancelled. It sets
// *exitCode when the process ran, and otherwise says why runc failed.
func runRunc(ctx context.Context, runcPath, bundleDir, id string, stdin io.Reader, stdout, stderr io.Writer, exitCode *int) error {
	pidFile := filepath.Join(bundleDir, "init.pid")
	logFile := filepath.Join(bundleDir, "runc.log")
	cmd := exec.Command(runcPath, "--root", RuncRoot, "--log", logFile, "--log-format", "json",
		"run", "--bundle", bundleDir, "--pid-file", pidFile, id)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	// A process the step left behind holding the output open must not
	// hang Wait once runc has gone.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting runc: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var waitErr error
	select {
	case waitErr = <-done:
	case <-ctx.Done():
		kill(runcPath, id, cmd, done) // the step was cancelled: how runc ended does not matter
		deleteContainer(runcPath, id)
		return ctx.Err()
	}
	deleteContainer(runcPath, id)

	started := fileHasContent(pidFile)
	var ee *exec.ExitError
	switch {
	case waitErr == nil:
		*exitCode = 0
		return nil
	case errors.As(waitErr, &ee) && ee.ExitCode() >= 0 && started:
		*exitCode = ee.ExitCode()
		return nil
	case errors.As(waitErr, &ee) && !started:
		if msg := runcError(logFile); msg != "" {
			return errors.New(msg)
		}
		return fmt.Errorf("runc exited with %v before starting the process", waitErr)
	default:
		return fmt.Errorf("waiting for runc: %w", waitErr)
	}
}

// kill SIGKILLs the container until runc run returns (the container may
// not exist yet when ctx is cancelled early), then, past killTimeout, runc
// itself.
func kill(runcPath, id string, cmd *exec.Cmd, done <-chan error) error {
	deadline := time.Now().Add(killTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		exec.Command(runcPath, "--root", RuncRoot, "kill", "--all", id, "KILL").Run()
		select {
		case err := <-done:
			return err
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			return <-done
		}
	}
}

// deleteContainer removes runc's state of id if any remains (runc run
// removes it itself when it exits normally).
func deleteContainer(runcPath, id string) {
	if _, err := os.Stat(filepath.Join(RuncRoot, id)); err != nil {
		return
	}
	exec.Command(runcPath, "--root", RuncRoot, "delete", "--force", id).Run()
}

func fileHasContent(p string) bool {
	data, err := os.ReadFile(p)
	return err == nil && len(bytes.TrimSpace(data)) > 0
}

// runcError returns the last error runc logged, if any.
func runcError(logFile string) string {
	f, err := os.Open(logFile)
	if err != nil {
		return ""
	}
	defer f.Close()
	var last string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var rec struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && (rec.Level == "error" || rec.Level == "fatal") {
			last = strings.TrimPrefix(strings.TrimSpace(rec.Msg), "runc run failed: ")
		}
	}
	return last
}
