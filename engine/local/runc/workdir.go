package runc

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// mkdirWorkdir creates the working directory p inside rootfs when it is
// missing, and gives every directory it creates to the process's user, as
// Docker's WORKDIR does (BuildKit makes it with the USER's ids), so that a
// non-root RUN can write in a working directory it did not make.
func mkdirWorkdir(rootfs, p string, u user) error {
	root, err := os.Open(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	rootfd := int(root.Fd())
	var missing []string
	parts := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	for i := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		if prefix == "" {
			continue
		}
		fd, err := openInRoot(rootfd, prefix, unix.O_PATH)
		if err == nil {
			unix.Close(fd)
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			break // mkdirAllInRoot reports it
		}
		missing = append(missing, prefix)
	}
	if err := mkdirAllInRoot(rootfs, p); err != nil {
		return err
	}
	if u.uid == 0 && u.gid == 0 {
		return nil
	}
	for _, prefix := range missing {
		fd, err := openInRoot(rootfd, prefix, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("opening /%s in the rootfs: %w", prefix, err)
		}
		err = unix.Fchown(fd, int(u.uid), int(u.gid))
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("giving /%s to the user: %w", prefix, err)
		}
	}
	return nil
}
