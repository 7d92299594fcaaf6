package runc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/internal/fsroot"
)

// Paths inside the rootfs are resolved by the kernel as if the rootfs were
// "/" (fsroot.InRoot): an image's symlinks behave as in the container and
// can never lead to the host's files.
func openInRoot(rootfd int, p string, flags uint64) (int, error) {
	return fsroot.Open(rootfd, fsroot.Rel(p), flags, fsroot.InRoot)
}

// maxConfigFile bounds what is read of an image's /etc/passwd or /etc/group.
const maxConfigFile = 16 << 20

// readFileInRoot reads rootfs's file p; a missing file reads as nil, nil.
// It must be a regular file (a FIFO or a device there would block the
// read, or worse) of at most maxConfigFile bytes; it is opened without
// blocking and read in chunks, giving up when ctx is done.
func readFileInRoot(ctx context.Context, rootfs, p string) ([]byte, error) {
	root, err := openDir(rootfs)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	pfd, err := openInRoot(int(root.Fd()), p, unix.O_PATH)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s in the rootfs: %w", p, err)
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return nil, fmt.Errorf("reading %s in the rootfs: %w", p, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("reading %s in the rootfs: not a regular file (%s)", p, fileType(st.Mode))
	}
	if st.Size > maxConfigFile {
		return nil, fmt.Errorf("reading %s in the rootfs: %d bytes, more than the %d allowed", p, st.Size, maxConfigFile)
	}
	// Reopened from the descriptor checked above, so that nothing can be
	// swapped in between.
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(pfd), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s in the rootfs: %w", p, err)
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	var data []byte
	buf := make([]byte, 64<<10)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := f.Read(buf)
		data = append(data, buf[:n]...)
		if len(data) > maxConfigFile {
			return nil, fmt.Errorf("reading %s in the rootfs: more than %d bytes", p, maxConfigFile)
		}
		if errors.Is(err, io.EOF) {
			return data, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s in the rootfs: %w", p, err)
		}
	}
}

func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFLNK:
		return "a symbolic link"
	}
	return "a special file"
}

// mkdirAllInRoot creates directory p inside rootfs (mode 0755, root-owned)
// with any missing parents.
func mkdirAllInRoot(rootfs, p string) error {
	root, err := openDir(rootfs)
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

// runtimePaths are what runc mounts over in every container. Were one of
// them, or a directory above it, a symlink, runc before 1.3.6 would follow
// it onto the host (CVE-2026-41579 for /dev); Docker masks them with an
// init layer, imgc refuses to run over them.
var runtimePaths = []string{"/dev", "/proc", "/sys", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}

// checkRuntimePaths refuses a rootfs where a runtime path or one of its
// parents is a symbolic link, naming it. Missing paths are fine: runc
// creates them.
func checkRuntimePaths(rootfs string) error {
	root, err := openDir(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, p := range runtimePaths {
		parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
		for i := range parts {
			prefix := "/" + strings.Join(parts[:i+1], "/")
			dir, name, err := fsroot.OpenParent(int(root.Fd()), prefix)
			if err != nil {
				return fmt.Errorf("checking %s in the rootfs: %w", prefix, err)
			}
			var st unix.Stat_t
			err = unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW)
			if err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				target := make([]byte, 4096)
				n, _ := unix.Readlinkat(dir, name, target)
				unix.Close(dir)
				return &RuntimePathError{Path: prefix, Target: string(target[:max(n, 0)])}
			}
			unix.Close(dir)
			if err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
				break // missing (runc makes it), or a file where runc wants one
			}
		}
	}
	return nil
}

// RuntimePathError is a rootfs whose /dev, /proc, /sys or resolver files
// (or a directory above them) are symbolic links.
type RuntimePathError struct {
	Path   string // in the rootfs
	Target string // the link's target
}

func (e *RuntimePathError) Error() string {
	return fmt.Sprintf("refusing to run: the image's %s is a symbolic link (to %q); the container runtime mounts over %s and could follow the link onto the host; "+
		"make %s a real directory or file in the base image, or in the step that made it a link", e.Path, e.Target, e.Path, e.Path)
}
