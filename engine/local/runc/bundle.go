package runc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// BundleRoot holds the runtime bundles of the steps that run (their
// config.json carries the step's environment, secrets included): one
// directory per imgc process, locked while it lives, and in it one bundle
// per running step, removed when the step ends. /run is a tmpfs on most
// systems, so nothing there reaches a disk; when it is not, /dev/shm is
// used, and when neither is, BundleRoot with a warning (see Warnings).
var BundleRoot = "/run/imgc/bundles"

// shmBundleRoot is the fallback when /run is not in memory.
const shmBundleRoot = "/dev/shm/imgc-bundles"

var bundles struct {
	mu   sync.Mutex
	dir  string   // this process's directory
	lock *os.File // holds its flock for the process's lifetime
}

// bundleRoot returns where bundles go, and a warning when that is not in
// memory.
func bundleRoot() (string, string) {
	if inMemory(filepath.Dir(BundleRoot)) {
		return BundleRoot, ""
	}
	if inMemory(filepath.Dir(shmBundleRoot)) {
		return shmBundleRoot, ""
	}
	return BundleRoot, fmt.Sprintf("neither %s nor %s is a tmpfs: the runtime bundles of run steps, which hold secret environment values while a step runs, are written to disk in %s",
		filepath.Dir(BundleRoot), filepath.Dir(shmBundleRoot), BundleRoot)
}

// inMemory reports whether dir, or the directory it would be made in, is
// on a tmpfs or ramfs.
func inMemory(dir string) bool {
	var st unix.Statfs_t
	for {
		err := unix.Statfs(dir, &st)
		if err == nil {
			return st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC
		}
		if !errors.Is(err, unix.ENOENT) || dir == filepath.Dir(dir) {
			return false
		}
		dir = filepath.Dir(dir)
	}
}

// NewBundle makes an empty bundle directory (mode 0700) for one step;
// remove deletes it.
func NewBundle() (dir string, remove func(), err error) {
	own, err := processBundles()
	if err != nil {
		return "", nil, fmt.Errorf("making a runtime bundle: %w", err)
	}
	dir, err = os.MkdirTemp(own, "step-")
	if err != nil {
		return "", nil, fmt.Errorf("making a runtime bundle: %w", err)
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// processBundles returns this process's bundle directory, made (and
// locked) the first time, after the stale ones of dead processes are
// cleared.
func processBundles() (string, error) {
	bundles.mu.Lock()
	defer bundles.mu.Unlock()
	if bundles.dir != "" {
		return bundles.dir, nil
	}
	root, _ := bundleRoot()
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", err
	}
	if err := os.Chmod(root, 0o700); err != nil {
		return "", err
	}
	if err := ClearStaleBundles(); err != nil {
		return "", err
	}
	for {
		dir, err := os.MkdirTemp(root, strconv.Itoa(os.Getpid())+"-")
		if err != nil {
			return "", err
		}
		f, ok, err := lockDir(dir)
		if err != nil {
			return "", err
		}
		if !ok {
			continue // another process cleared it as stale before we locked it
		}
		bundles.dir, bundles.lock = dir, f
		return dir, nil
	}
}

// lockDir takes dir's flock; ok is false when someone else holds it or dir
// is no longer at its path.
func lockDir(dir string) (f *os.File, ok bool, err error) {
	f, err = os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, false, nil
		}
		return nil, false, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, err
	}
	var held, now unix.Stat_t
	if unix.Fstat(int(f.Fd()), &held) != nil || unix.Lstat(dir, &now) != nil || held.Ino != now.Ino || held.Dev != now.Dev {
		f.Close()
		return nil, false, nil
	}
	return f, true, nil
}

// ClearStaleBundles removes the bundle directories of imgc processes that
// are gone (a killed process leaves its bundles, and secrets in them,
// behind). A directory is stale when no live process holds its lock.
func ClearStaleBundles() error {
	root, _ := bundleRoot()
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("clearing stale runtime bundles: %w", err)
	}
	for _, e := range entries {
		p := filepath.Join(root, e.Name())
		if !e.IsDir() {
			os.Remove(p)
			continue
		}
		f, ok, err := lockDir(p)
		if err != nil {
			return fmt.Errorf("clearing stale runtime bundles: %w", err)
		}
		if !ok {
			continue // in use
		}
		err = os.RemoveAll(p)
		f.Close()
		if err != nil {
			return fmt.Errorf("clearing stale runtime bundles: %w", err)
		}
	}
	return nil
}
