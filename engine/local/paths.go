package local

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/store/layer"

	"github.com/imgc-dev/imgc/internal/chmod"
)

// openInRoot opens rel inside root without letting symlinks (or "..")
// lead outside it.
func openInRoot(root, rel string, flags int) (int, error) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(rfd)
	rel = strings.TrimPrefix(path.Clean("/"+rel), "/")
	if rel == "" {
		rel = "."
	}
	return unix.Openat2(rfd, rel, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
}

// followInRoot resolves p in the filesystem at root through every symlink
// on its way, its last element's included, as the kernel would with root
// as "/", and also follows a symlink whose target does not exist (yet);
// what does not exist is kept as written. That is where BuildKit writes a
// copy's destination: COPY x /link with /link -> /nowhere writes /nowhere,
// and with /link -> /etc/real overwrites /etc/real. More than 40 symlinks
// on the way (a loop) is an error, as the kernel's ELOOP.
func followInRoot(root, p string) (string, error) {
	p = path.Clean("/" + p)
	if root == "" {
		return p, nil
	}
	rest := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for hops := 0; len(rest) > 0; {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		target, ok := readlinkInRoot(root, cur, name)
		if !ok {
			cur = path.Join(cur, name)
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("following the destination %s: too many levels of symbolic links", p)
		}
		if strings.HasPrefix(target, "/") {
			cur = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return cur, nil
}

// readlinkInRoot reads the symlink name in the directory dir of the
// filesystem at root; ok is false where it is no symlink or dir does not
// exist.
func readlinkInRoot(root, dir, name string) (target string, ok bool) {
	fd, err := openInRoot(root, dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return "", false
	}
	defer unix.Close(fd)
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, name, buf)
	if err != nil || n == 0 {
		return "", false
	}
	return string(buf[:n]), true
}

// inRoot resolves image paths through the symlinks of the filesystem at
// root, remembering directories already resolved.
type inRoot struct {
	root     string
	rootReal string
	memo     map[string]string
}

// path resolves p's parent directory (and p itself when it is a directory
// that exists) through symlinks inside the root. What does not exist yet
// is kept as written.
func (r *inRoot) path(p string, isDir bool) string {
	if isDir && isDirIn(r.root, p) {
		return r.dir(p)
	}
	return path.Join(r.dir(path.Dir(p)), path.Base(p))
}

func (r *inRoot) dir(d string) string {
	if d == "/" {
		return d
	}
	if got, ok := r.memo[d]; ok {
		return got
	}
	got := path.Join(r.dir(path.Dir(d)), path.Base(d))
	if fd, err := openInRoot(r.root, got, unix.O_PATH|unix.O_DIRECTORY); err == nil {
		if real, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd)); err == nil {
			if r.rootReal == "" {
				r.rootReal, _ = filepath.EvalSymlinks(r.root)
			}
			if rel, ok := strings.CutPrefix(real, r.rootReal); ok && (rel == "" || strings.HasPrefix(rel, "/")) {
				got = path.Clean("/" + rel)
			}
		}
		unix.Close(fd)
	}
	r.memo[d] = got
	return got
}

// dirEntryIn describes the existing directory p of the filesystem at
// root as an entry with its own metadata.
func dirEntryIn(root, p string) (layer.Entry, bool) {
	fd, err := openInRoot(root, p, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return layer.Entry{}, false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return layer.Entry{}, false
	}
	mode := fs.ModeDir | chmod.FromUnix(st.Mode&0o7777)
	return layer.Entry{Path: p, Mode: mode, UID: int(st.Uid), GID: int(st.Gid), ModTime: time.Unix(st.Mtim.Unix())}, true
}

// isDirIn reports whether p names a directory in the filesystem at root
// (following symlinks inside root, as a copy into it would).
func isDirIn(root, p string) bool {
	fd, err := openInRoot(root, p, unix.O_PATH)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false
	}
	return st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// resolveInRoot resolves p inside root with symlinks kept inside root and
// returns a host path for it.
func resolveInRoot(root, p string) (string, error) {
	fd, err := openInRoot(root, p, unix.O_PATH)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	real, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return "", err
	}
	rootReal, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", err
	}
	if real != rootReal && !strings.HasPrefix(real, rootReal+"/") {
		return "", fmt.Errorf("%q resolves outside its root", p)
	}
	return real, nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
