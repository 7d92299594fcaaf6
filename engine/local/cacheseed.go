package local

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/internal/fsroot"
	"github.com/imgc-dev/imgc/ir"
)

// cacheSeed is what a cache mount starts from: the files of a named
// directory context (--mount=type=cache,from=DIR-CONTEXT[,source=PATH])
// the compiler listed after the directory's ignore file.
type cacheSeed struct {
	dir    string // the context directory the files' Src are relative to
	files  []ir.CopyFile
	digest string // hex digest of the files' paths, modes and contents
}

// newCacheSeed is m's seed, or nil for a cache that starts empty.
func newCacheSeed(m ir.Mount) (*cacheSeed, error) {
	if m.Context == "" {
		return nil, nil
	}
	sd := &cacheSeed{dir: m.Context, files: m.Files}
	h := sha256.New()
	for _, f := range m.Files {
		fmt.Fprintf(h, "%s\x00%o\x00%s\x00", f.Dst, uint32(f.Mode), f.LinkTarget)
		if f.Mode.IsRegular() {
			if err := hashFile(h, sd.dir, f.Src); err != nil {
				return nil, fmt.Errorf("reading the cache mount's source: %w", err)
			}
		}
	}
	sd.digest = hex.EncodeToString(h.Sum(nil))
	return sd, nil
}

func hashFile(w io.Writer, dir, rel string) error {
	f, err := openSource(dir, rel)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// copyTo writes the seed's files into the new cache directory root (Dst
// is relative to the mount's source, "/x/y"), keeping their modes and
// owners. Nothing is written through a symlink: an entry whose parent in
// root is not a real directory (the context changed since it was listed)
// is refused, and modes and owners are set on the entries themselves.
func (sd *cacheSeed) copyTo(root string) error {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(rfd)
	for _, f := range sd.files {
		rel := strings.TrimPrefix(path.Clean("/"+f.Dst), "/")
		if rel == "" {
			continue
		}
		if err := sd.copyEntry(rfd, rel, f); err != nil {
			return fmt.Errorf("seeding the cache mount with %s: %w", f.Src, err)
		}
	}
	return nil
}

// copyEntry writes f at rel below the directory rfd.
func (sd *cacheSeed) copyEntry(rfd int, rel string, f ir.CopyFile) error {
	pfd, err := mkdirAllAt(rfd, path.Dir(rel))
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	name := path.Base(rel)
	switch {
	case f.Mode.IsDir():
		err = unix.Mkdirat(pfd, name, uint32(f.Mode.Perm()))
	case f.Mode&os.ModeSymlink != 0:
		err = unix.Symlinkat(f.LinkTarget, pfd, name)
	case f.Mode.IsRegular():
		err = copyRegularAt(sd.dir, f.Src, pfd, name, f.Mode.Perm())
	default:
		return nil
	}
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	if fi, err := os.Lstat(filepath.Join(sd.dir, filepath.FromSlash(f.Src))); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if err := unix.Fchownat(pfd, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
		}
	}
	if f.Mode.IsDir() {
		dfd, err := openBeneath(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("refusing to change the mode of %s: it is not a directory: %w", rel, err)
		}
		defer unix.Close(dfd)
		return unix.Fchmod(dfd, uint32(f.Mode.Perm()))
	}
	return nil
}

// openBeneath opens name below the directory dfd, refusing symlinks
// anywhere on the way (ELOOP).
func openBeneath(dfd int, name string, flags uint64) (int, error) {
	return fsroot.Open(dfd, name, flags, fsroot.Beneath)
}

// mkdirAllAt opens the directory rel below rfd, making what is missing of
// it (0755), and fails if any part of it is not a real directory.
func mkdirAllAt(rfd int, rel string) (int, error) {
	fd, err := unix.Dup(rfd)
	if err != nil {
		return -1, err
	}
	if rel == "." {
		return fd, nil
	}
	done := ""
	for _, c := range strings.Split(rel, "/") {
		done = path.Join(done, c)
		if err := unix.Mkdirat(fd, c, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			unix.Close(fd)
			return -1, err
		}
		next, err := openBeneath(fd, c, unix.O_PATH|unix.O_DIRECTORY)
		unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("refusing to write below %s: it is not a directory: %w", done, err)
		}
		fd = next
	}
	return fd, nil
}

func copyRegularAt(dir, rel string, dfd int, name string, perm os.FileMode) error {
	in, err := openSource(dir, rel)
	if err != nil {
		return err
	}
	defer in.Close()
	fd, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm))
	if err != nil {
		return err
	}
	out := os.NewFile(uintptr(fd), name)
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := unix.Fchmod(fd, uint32(perm)); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// openSource opens the regular file rel of the context directory dir for
// reading, never through a symlink that leads out of dir nor a symlink at
// rel itself: the directory may have changed since the compiler listed it.
func openSource(dir, rel string) (*os.File, error) {
	fd, err := openInRoot(dir, filepath.ToSlash(rel), unix.O_RDONLY|unix.O_NOFOLLOW)
	if err != nil {
		return nil, fmt.Errorf("opening %s in %s: %w", rel, dir, err)
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir, rel)), nil
}
