package local_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/ir"
)

// TestStubCleanupStaysInUpper runs a step that moves a mount point's
// parent away and puts a symlink to a host directory in its place: the
// cleanup of the mount-point stub must not follow it and remove, or touch,
// the host's file of the same name.
func TestStubCleanupStaysInUpper(t *testing.T) {
	base := requireRuntime(t)
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		mount ir.Mount
		dir   bool // the stub is a directory (else an empty file)
	}{
		{"tmpfs", ir.Mount{Type: ir.MountTmpfs, Target: "/x/lock"}, true},
		{"secret", ir.Mount{Type: ir.MountSecret, ID: "s", Target: "/x/lock", Required: true}, false},
		{"cache", ir.Mount{Type: ir.MountCache, ID: "c", Target: "/x/lock"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := t.TempDir()
			lock := filepath.Join(host, "lock")
			if tc.dir {
				if err := os.Mkdir(lock, 0o755); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(lock, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
			for _, p := range []string{lock, host} {
				if err := os.Chtimes(p, old, old); err != nil {
					t.Fatal(err)
				}
			}
			run := sh("mv /x /x.moved && ln -s " + host + " /x")
			run.Mounts = []ir.Mount{tc.mount}
			p := &ir.Plan{Project: "stubs", Targets: []*ir.Target{target("app", busyboxBase(base), layerOf("swap", run))}}
			if _, _, err := build(t, openStore(t), p, engine.BuildOptions{Secrets: map[string]string{"s": secretFile}}); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(lock)
			if err != nil {
				t.Fatalf("the host's %s is gone: %v", lock, err)
			}
			if fi.IsDir() != tc.dir || !fi.ModTime().Equal(old) {
				t.Errorf("the host's %s changed: dir %v, mtime %v", lock, fi.IsDir(), fi.ModTime())
			}
			if fi, err := os.Stat(host); err != nil || !fi.ModTime().Equal(old) {
				t.Errorf("the host directory's times changed: %v, %v", fi.ModTime(), err)
			}
		})
	}
}

// TestDevSymlinkBaseRefused checks that a base whose /dev is a symlink
// runs no step (runc before 1.3.6 follows it onto the host) and that the
// error is the step's, at its line.
func TestDevSymlinkBaseRefused(t *testing.T) {
	requireRuntime(t)
	host := t.TempDir()
	evil := maliciousLayout(t, []*tar.Header{{Name: "dev", Typeflag: tar.TypeSymlink, Linkname: host, Mode: 0o777}})
	b := ir.Base{Kind: ir.BaseOCILayout, Ref: imageref.MustParse("oci:" + evil), Key: ir.KeyOf([]byte(evil)), Origin: ir.Origin{File: "evil.image.hcl", Line: 1}}
	run := sh("true")
	p := &ir.Plan{Project: "evil", Targets: []*ir.Target{target("app", b, layerOf("run", run))}}
	_, _, err := build(t, openStore(t), p, engine.BuildOptions{})
	var se *engine.StepError
	if !errors.As(err, &se) || se.Origins[0] != run.Origin || !strings.Contains(err.Error(), "/dev is a symbolic link") {
		t.Fatalf("build error = %v, want a StepError at the run step saying /dev is a symbolic link", err)
	}
	if des, _ := os.ReadDir(host); len(des) != 0 {
		t.Errorf("the step wrote %d entries into the host directory /dev pointed to", len(des))
	}
}

// TestSecretEnvNeverOnDisk checks that while a step with a secret in its
// environment runs, no file of the cache directory holds the secret (the
// runtime bundle is in memory), and that nothing does afterwards.
func TestSecretEnvNeverOnDisk(t *testing.T) {
	base := requireRuntime(t)
	s := openStore(t)
	const secret = "env-s3cr3t-9f2e"
	secretFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(secret))
	run := sh(`echo started > /sync/started; i=0; while [ ! -e /sync/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; ` +
		`test "$(printf %s "$TOKEN" | sha256sum | cut -c1-64)" = ` + hex.EncodeToString(sum[:]))
	run.Mounts = []ir.Mount{
		{Type: ir.MountSecret, ID: "token", Env: "TOKEN", Required: true},
		{Type: ir.MountCache, ID: "sync", Target: "/sync"},
	}
	p := &ir.Plan{Project: "secret-env", Targets: []*ir.Target{target("app", busyboxBase(base), layerOf("use", run))}}
	done := make(chan error, 1)
	go func() {
		_, _, err := build(t, s, p, engine.BuildOptions{Secrets: map[string]string{"token": secretFile}})
		done <- err
	}()
	syncDir := filepath.Join(s.Dir(), "mounts", "cache", "sync")
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(syncDir, "started")); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the build ended before the step started: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the step did not start")
		}
	}
	onDisk := filesHolding(t, s.Dir(), secret)
	inMemory := filesHolding(t, "/run/imgc", secret)
	inMemory = append(inMemory, filesHolding(t, "/dev/shm", secret)...)
	if err := os.WriteFile(filepath.Join(syncDir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(onDisk) > 0 {
		t.Errorf("while the step ran, the secret was in %q", onDisk)
	}
	if len(inMemory) == 0 {
		t.Error("the running step's bundle, with the secret, is not under /run/imgc or /dev/shm: the test looked in the wrong place")
	}
	for _, p := range inMemory {
		var st unix.Statfs_t
		if err := unix.Statfs(p, &st); err == nil && st.Type != unix.TMPFS_MAGIC && st.Type != unix.RAMFS_MAGIC {
			t.Errorf("%s holds the secret and is not in memory", p)
		}
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s, which held the secret, is still there after the step: %v", p, err)
		}
	}
	if hits := filesHolding(t, s.Dir(), secret); len(hits) > 0 {
		t.Errorf("after the build, the secret is in %q", hits)
	}
}

// filesHolding lists the regular files under dir that contain s.
func filesHolding(t testing.TB, dir, s string) []string {
	t.Helper()
	var hits []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > 64<<20 {
			return nil
		}
		data, _ := os.ReadFile(p)
		if bytes.Contains(data, []byte(s)) {
			hits = append(hits, p)
		}
		return nil
	})
	return hits
}
