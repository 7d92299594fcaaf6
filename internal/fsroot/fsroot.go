// Package fsroot resolves paths inside a directory through a file
// descriptor of that directory, with openat2, so that no path it resolves
// can lead out of it: a symlink on the way is either refused (Beneath) or
// resolved as if the directory were "/" (InRoot), by the kernel. The layer
// writer, the mount-stub cleanup and the run-step checks of a container's
// root filesystem share it.
//
// It deliberately does not walk trees or copy files: its callers do, one
// descriptor at a time.
package fsroot

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

const (
	// Beneath refuses any symlink, and any "..", on the way: for
	// directories whose content an untrusted process may have arranged.
	Beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS
	// InRoot resolves symlinks as if the directory were "/", as inside a
	// container.
	InRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS
)

// Rel turns p ("/a/b", "a/b/", "/") into a clean relative path, "." for the
// root itself. ".." cannot climb above the root.
func Rel(p string) string {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

// Open opens rel below the directory dirfd with openat2 and resolve (Beneath
// or InRoot), retrying when a concurrent rename makes the kernel ask to.
// O_CLOEXEC is always added.
func Open(dirfd int, rel string, flags uint64, resolve uint64) (int, error) {
	if rel == "" {
		rel = "."
	}
	for {
		fd, err := unix.Openat2(dirfd, rel, &unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: resolve})
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		return fd, err
	}
}

// OpenParent opens, with Beneath, the directory holding p (a path below
// dirfd) and returns it with p's last component. For the root itself it
// returns a duplicate of dirfd and ".".
func OpenParent(dirfd int, p string) (fd int, name string, err error) {
	rel := Rel(p)
	if rel == "." {
		fd, err := unix.Dup(dirfd)
		return fd, ".", err
	}
	fd, err = Open(dirfd, path.Dir(rel), unix.O_RDONLY|unix.O_DIRECTORY, Beneath)
	if err != nil {
		return -1, "", err
	}
	return fd, path.Base(rel), nil
}

// Describe turns an openat2 error on rel into words.
func Describe(rel string, err error) error {
	switch {
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("resolving %s: a parent is a symbolic link", rel)
	case errors.Is(err, unix.EXDEV):
		return fmt.Errorf("resolving %s: path leaves the directory", rel)
	case errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("resolving %s: a parent is not a directory", rel)
	}
	return fmt.Errorf("resolving %s: %w", rel, err)
}
