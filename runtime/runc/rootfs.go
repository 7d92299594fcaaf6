package runc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Paths inside the rootfs are resolved by the kernel as if the rootfs were
// "/" (RESOLVE_IN_ROOT): an image's symlinks behave as in the container and
// can never lead to the host's files.
const resolveInRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

func openInRoot(rootfd int, p string, flags uint64) (int, error) {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		p = "."
	}
	for {
		fd, err := unix.Openat2(rootfd, p, &unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: resolveInRoot})
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		return fd, err
	}
}

// maxConfigFile bounds what is read of an image's /etc/passwd or /etc/group.
const maxConfigFile = 16 << 20

// readFileInRoot reads rootfs's file p; a missing file reads as nil, nil.
func readFileInRoot(rootfs, p string) ([]byte, error) {
	root, err := os.Open(rootfs)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	fd, err := openInRoot(int(root.Fd()), p, unix.O_RDONLY)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s in the rootfs: %w", p, err)
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s in the rootfs: %w", p, err)
	}
	if len(data) > maxConfigFile {
		return nil, fmt.Errorf("reading %s in the rootfs: larger than %d bytes", p, maxConfigFile)
	}
	return data, nil
}

// mkdirAllInRoot creates directory p inside rootfs (mode 0755, root-owned)
// with any missing parents.
func mkdirAllInRoot(rootfs, p string) error {
	root, err := os.Open(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	rootfd := int(root.Fd())
	fd, err := openInRoot(rootfd, p, unix.O_RDONLY|unix.O_DIRECTORY)
	if err == nil {
		unix.Close(fd)
		return nil
	}
	if !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("opening %s in the rootfs: %w", p, err)
	}
	parts := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	parent, err := unix.Dup(rootfd)
	if err != nil {
		return err
	}
	for i, name := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		fd, err := openInRoot(rootfd, prefix, unix.O_RDONLY|unix.O_DIRECTORY)
		if errors.Is(err, unix.ENOENT) {
			if err = unix.Mkdirat(parent, name, 0o755); err == nil || errors.Is(err, unix.EEXIST) {
				fd, err = openInRoot(rootfd, prefix, unix.O_RDONLY|unix.O_DIRECTORY)
			}
		}
		unix.Close(parent)
		if err != nil {
			return fmt.Errorf("creating /%s in the rootfs: %w", prefix, err)
		}
		parent = fd
	}
	unix.Close(parent)
	return nil
}
