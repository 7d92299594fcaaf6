package runc_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/engine/local/runc"
)

// TestRuntimePathSymlinksRefused checks that no step runs over a rootfs
// whose /dev, /proc, /sys, resolver files or their parents are symlinks
// (runc before 1.3.6 follows a /dev symlink onto the host), and that the
// host directory they point to is left alone.
func TestRuntimePathSymlinksRefused(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct{ link, path string }{
		{"dev", "/dev"},
		{"proc", "/proc"},
		{"sys", "/sys"},
		{"etc/hosts", "/etc/hosts"},
		{"etc/resolv.conf", "/etc/resolv.conf"},
		{"etc/hostname", "/etc/hostname"},
		{"etc", "/etc"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			lower := busyboxRootfs(t)
			host := t.TempDir()
			if err := os.WriteFile(filepath.Join(host, "keep"), []byte("host\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.link == "etc" {
				// /etc's files must still resolve for the user lookup.
				for _, f := range []string{"passwd", "group"} {
					data, _ := os.ReadFile(filepath.Join(lower, "etc", f))
					os.WriteFile(filepath.Join(host, f), data, 0o644)
				}
			}
			os.RemoveAll(filepath.Join(lower, tc.link))
			if err := os.Symlink(host, filepath.Join(lower, tc.link)); err != nil {
				t.Fatal(err)
			}
			merged, _ := overlayRootfs(t, lower)
			_, err := runc.Run(context.Background(), "", runc.Spec{ID: newID(t), Rootfs: merged, Args: []string{"true"}}, io.Discard, io.Discard)
			var pe *runc.RuntimePathError
			if !errors.As(err, &pe) || pe.Path != tc.path || pe.Target != host {
				t.Fatalf("Run = %v, want a RuntimePathError for %s -> %s", err, tc.path, host)
			}
			t.Log(err)
			des, _ := os.ReadDir(host)
			var names []string
			for _, d := range des {
				names = append(names, d.Name())
			}
			want := []string{"keep"}
			if tc.link == "etc" {
				want = []string{"group", "keep", "passwd"}
			}
			if diff := cmp.Diff(want, names); diff != "" {
				t.Errorf("host directory changed (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUserLookupRefusesSpecialFiles checks that a FIFO, a directory or an
// oversized file at /etc/passwd or /etc/group fails at once instead of
// hanging the build.
func TestUserLookupRefusesSpecialFiles(t *testing.T) {
	for _, name := range []string{"passwd", "group"} {
		for kind, create := range map[string]func(p string) error{
			"FIFO":      func(p string) error { return unix.Mkfifo(p, 0o644) },
			"directory": func(p string) error { return os.Mkdir(p, 0o755) },
			"huge file": func(p string) error {
				f, err := os.Create(p)
				if err != nil {
					return err
				}
				defer f.Close()
				return f.Truncate(1 << 30) // sparse
			},
		} {
			t.Run(name+" "+kind, func(t *testing.T) {
				rootfs := t.TempDir()
				os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755)
				os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644)
				os.WriteFile(filepath.Join(rootfs, "etc/group"), []byte("root:x:0:\n"), 0o644)
				p := filepath.Join(rootfs, "etc", name)
				os.Remove(p)
				if err := create(p); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() {
					_, _, _, err := runc.ResolveUser(rootfs, "root")
					done <- err
				}()
				select {
				case err := <-done:
					if err == nil || !strings.Contains(err.Error(), "/etc/"+name) {
						t.Errorf("ResolveUser = %v, want an error naming /etc/%s", err, name)
					}
					t.Log(err)
				case <-time.After(time.Minute): // a hang guard
					// Unblock the reader so the test can end.
					if f, err := os.OpenFile(p, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
						f.Close()
					}
					t.Fatalf("ResolveUser hangs on a %s at /etc/%s", kind, name)
				}
			})
		}
	}
}

// TestStaleBundlesCleared checks that bundles a killed imgc left behind
// (their directory's lock is free) are removed, and the bundles of a live
// process are not.
func TestStaleBundlesCleared(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: bundles live under /run/imgc")
	}
	own, remove, err := runc.NewBundle()
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	fi, err := os.Stat(own)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("bundle %s: %v, mode %v; want 0700", own, err, fi.Mode().Perm())
	}
	root := filepath.Dir(filepath.Dir(own))
	if fi, err := os.Stat(root); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("bundle root %s: %v, want mode 0700", root, err)
	}
	// Made beside the root and moved in whole: another imgc running now
	// may clear it as soon as it is there.
	tmp, err := os.MkdirTemp(filepath.Dir(root), "test-stale-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Join(tmp, "step-1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "step-1", "config.json"), []byte(`{"env":["TOKEN=secret"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(root, "999999999-dead", "step-1")
	if err := os.Rename(tmp, filepath.Dir(stale)); err != nil {
		t.Fatal(err)
	}
	if err := runc.ClearStaleBundles(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(stale)); !os.IsNotExist(err) {
		t.Errorf("stale bundle dir survived: %v", err)
	}
	if _, err := os.Stat(own); err != nil {
		t.Errorf("the live process's bundle was removed: %v", err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(own, &st); err != nil || (st.Type != unix.TMPFS_MAGIC && st.Type != unix.RAMFS_MAGIC) {
		t.Errorf("bundle %s is not in memory (statfs type %#x, %v)", own, st.Type, err)
	}
}
