package layer

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/internal/fsroot"
)

// tree writes into one directory through file descriptors, so that no path
// it resolves can leave the directory: a symlink in a parent path is either
// refused (resolveBeneath) or resolved as if the directory were "/"
// (resolveInRoot), by the kernel's openat2.
type tree struct {
	root    *os.File
	resolve uint64
	// upper means the directory is an overlay upper dir: replacing a
	// whiteout or another non-directory by a directory makes it opaque, so
	// the lower directory's entries stay hidden.
	upper bool

	// One cached parent directory, since entries of one directory come
	// together. Dropped whenever anything is removed.
	cacheRel string
	cacheFD  int
}

const (
	resolveBeneath = fsroot.Beneath
	resolveInRoot  = fsroot.InRoot
)

func openTree(dir string, resolve uint64) (*tree, error) {
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	return &tree{root: f, resolve: resolve, cacheFD: -1}, nil
}

func (t *tree) close() {
	t.dropCache()
	t.root.Close()
}

func (t *tree) dropCache() {
	if t.cacheFD >= 0 {
		unix.Close(t.cacheFD)
	}
	t.cacheFD = -1
	t.cacheRel = ""
}

func (t *tree) rootFD() int { return int(t.root.Fd()) }

func (t *tree) openat2(rel string) (int, error) {
	return fsroot.Open(t.rootFD(), rel, unix.O_RDONLY|unix.O_DIRECTORY, t.resolve)
}

// dir returns a descriptor of directory rel, owned by the cache (do not
// close it). With create, missing directories are made (0755, root-owned).
func (t *tree) dir(rel string, create bool) (int, error) {
	if t.cacheFD >= 0 && t.cacheRel == rel {
		return t.cacheFD, nil
	}
	fd, err := t.openat2(rel)
	if err != nil && create && (errors.Is(err, unix.ENOENT) || (t.upper && errors.Is(err, unix.ENOTDIR))) {
		fd, err = t.mkdirAll(rel)
	}
	if err != nil {
		return -1, describeResolveError(rel, err)
	}
	t.dropCache()
	t.cacheRel, t.cacheFD = rel, fd
	return fd, nil
}

func describeResolveError(rel string, err error) error { return fsroot.Describe(rel, err) }

// mkdirAll creates the missing directories of rel one component at a time,
// each resolved from the root so that RESOLVE_IN_ROOT keeps its meaning.
func (t *tree) mkdirAll(rel string) (int, error) {
	parent, err := unix.Dup(t.rootFD())
	if err != nil {
		return -1, err
	}
	parts := strings.Split(rel, "/")
	for i, name := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		fd, err := t.openat2(prefix)
		if errors.Is(err, unix.ENOENT) || (t.upper && errors.Is(err, unix.ENOTDIR)) {
			err = t.makeDir(parent, name)
			if err == nil {
				fd, err = t.openat2(prefix)
			}
		}
		unix.Close(parent)
		if err != nil {
			return -1, err
		}
		parent = fd
	}
	return parent, nil
}

// makeDir creates directory name in parent. In an upper dir, a whiteout
// there becomes an opaque directory, so the lower one stays hidden.
func (t *tree) makeDir(parent int, name string) error {
	err := unix.Mkdirat(parent, name, 0o755)
	if !errors.Is(err, unix.EEXIST) || !t.upper {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(parent, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return nil
	case !isWhiteout(&st):
		return unix.ENOTDIR
	}
	if err := unix.Unlinkat(parent, name, 0); err != nil {
		return err
	}
	if err := unix.Mkdirat(parent, name, 0o755); err != nil {
		return err
	}
	return setXattrAt(parent, name, opaqueXattr, []byte("y"))
}

// procPath names entry name of directory fd for the l*xattr calls, which
// have no *at form; only the final component is looked up and not followed.
func procPath(fd int, name string) string {
	return "/proc/self/fd/" + strconv.Itoa(fd) + "/" + name
}

func setXattrAt(fd int, name, attr string, value []byte) error {
	return unix.Lsetxattr(procPath(fd, name), attr, value, 0)
}

// removeAt removes name from directory fd, recursively, without following
// symlinks. A missing name is not an error.
func (t *tree) removeAt(fd int, name string) error {
	err := os.RemoveAll(procPath(fd, name))
	t.invalidate()
	return err
}

// invalidate forgets which directory the cached descriptor names, since a
// removal may have replaced it; the descriptor stays open (a caller may be
// using it) until the next dir call replaces it.
func (t *tree) invalidate() {
	t.cacheRel = "\x00"
}

// cleanName turns a tar entry name into a clean relative path ("" for the
// root), refusing absolute names and any "..".
func cleanName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("entry %q: absolute path", name)
	}
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
		case "..":
			return "", fmt.Errorf("entry %q: path contains \"..\"", name)
		default:
			parts = append(parts, p)
		}
	}
	return path.Join(parts...), nil
}
