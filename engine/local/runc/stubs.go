package runc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/internal/fsroot"
)

// Stubs are the mount points runc will create in a rootfs because they do
// not exist there (empty files or directories, with missing parents). Found
// before a run, they are removed from the overlay's upper dir after it, so
// that they never reach a layer.
//
// Both happen through a descriptor of the directory with every symlink on
// the way refused (fsroot.Beneath): the step may have replaced a stub's
// parent by a symlink to a host directory, and what is removed or restored
// must stay inside the upper dir.
type Stubs struct {
	stubs   []stub       // parents first
	parents []parentTime // existing directories the stubs are created in
}

type stub struct {
	path string
	// whiteout is set when the stub replaces a whiteout of the upper dir,
	// which must come back.
	whiteout bool
}

type parentTime struct {
	path string
	ts   [2]unix.Timespec // atime, mtime
}

// FindStubs returns the stubs Run will create for s in rootfs (the mounted
// overlay). upper, when not empty, is the overlay's upper dir, consulted
// for whiteouts the stubs replace. Mount points below a symlink of the
// rootfs are not predicted (runc resolves them inside the rootfs).
func FindStubs(rootfs, upper string, s Spec) (*Stubs, error) {
	root, err := openDir(rootfs)
	if err != nil {
		return nil, fmt.Errorf("finding mount stubs: %w", err)
	}
	defer root.Close()
	var up *os.File
	if upper != "" {
		if up, err = openDir(upper); err != nil {
			return nil, fmt.Errorf("finding mount stubs: %w", err)
		}
		defer up.Close()
	}
	st := &Stubs{}
	seen := make(map[string]bool)
	seenParent := make(map[string]bool)
	mps := MountPoints(s)
	for i, mp := range mps {
		if underEarlierMount(mps[:i], mp) {
			continue // its stub is made in that mount, not in the rootfs
		}
		parts := strings.Split(strings.TrimPrefix(path.Clean("/"+mp), "/"), "/")
		for i := range parts {
			p := "/" + strings.Join(parts[:i+1], "/")
			fi, err := lstatAt(int(root.Fd()), p)
			if err == nil {
				if fi.Mode&unix.S_IFMT == unix.S_IFDIR {
					continue
				}
				break // exists, or a symlink or file runc resolves itself
			}
			if !errors.Is(err, unix.ENOENT) {
				return nil, fmt.Errorf("finding mount stubs: lstat %s: %w", p, err)
			}
			parent := path.Dir(p)
			if !seenParent[parent] {
				pst, err := lstatAt(int(root.Fd()), parent)
				if err != nil {
					return nil, fmt.Errorf("finding mount stubs: lstat %s: %w", parent, err)
				}
				seenParent[parent] = true
				st.parents = append(st.parents, parentTime{path: parent, ts: [2]unix.Timespec{pst.Atim, pst.Mtim}})
			}
			for j := i; j < len(parts); j++ {
				sp := "/" + strings.Join(parts[:j+1], "/")
				if seen[sp] {
					continue
				}
				seen[sp] = true
				wh := false
				if up != nil && j == i {
					if ust, err := lstatAt(int(up.Fd()), sp); err == nil && ust.Mode&unix.S_IFMT == unix.S_IFCHR && ust.Rdev == 0 {
						wh = true
					}
				}
				st.stubs = append(st.stubs, stub{path: sp, whiteout: wh})
			}
			break
		}
	}
	key := func(p string) string { return strings.ReplaceAll(p, "/", "\x00") }
	sort.Slice(st.stubs, func(i, j int) bool { return key(st.stubs[i].path) < key(st.stubs[j].path) })
	return st, nil
}

func underEarlierMount(earlier []string, mp string) bool {
	for _, e := range earlier {
		if mp == e || strings.HasPrefix(mp, strings.TrimSuffix(e, "/")+"/") {
			return true
		}
	}
	return false
}

// Paths returns the stubs' paths in the rootfs, parents first.
func (st *Stubs) Paths() []string {
	out := make([]string, len(st.stubs))
	for i, s := range st.stubs {
		out[i] = s.path
	}
	return out
}

// Remove deletes the stubs from upper, the overlay's upper dir, once it is
// unmounted. Only empty files and empty directories go, so whatever the step
// wrote into a stub directory stays; a stub that replaced a whiteout becomes
// the whiteout again; the directories the stubs were made in get their
// times back, so that they equal the lower's again. A stub whose parent the
// step replaced (by a symlink, a file, or nothing) is not there any more and
// is left alone.
func (st *Stubs) Remove(upper string) error {
	up, err := openDir(upper)
	if err != nil {
		return fmt.Errorf("removing mount stubs: %w", err)
	}
	defer up.Close()
	upfd := int(up.Fd())
	removed := false
	for i := len(st.stubs) - 1; i >= 0; i-- {
		s := st.stubs[i]
		ok, err := removeStub(upfd, s)
		if err != nil {
			return fmt.Errorf("removing mount stub %s: %w", s.path, err)
		}
		removed = removed || ok
	}
	if !removed {
		return nil
	}
	for _, pt := range st.parents {
		if err := restoreTimes(upfd, pt); err != nil {
			return fmt.Errorf("restoring times of %s: %w", pt.path, err)
		}
	}
	return nil
}

// removeStub removes s from the upper dir upfd when it is still an empty
// file or directory at its place, and reports whether it did.
func removeStub(upfd int, s stub) (bool, error) {
	dir, name, err := fsroot.OpenParent(upfd, s.path)
	if isGone(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer unix.Close(dir)
	empty, isDir, err := isEmptyStub(dir, name)
	if err != nil || !empty {
		return false, err
	}
	flags := 0
	if isDir {
		flags = unix.AT_REMOVEDIR
	}
	if err := unix.Unlinkat(dir, name, flags); err != nil {
		return false, err
	}
	if s.whiteout {
		if err := unix.Mknodat(dir, name, unix.S_IFCHR, 0); err != nil {
			return true, fmt.Errorf("restoring whiteout: %w", err)
		}
	}
	return true, nil
}

// restoreTimes gives directory pt.path of the upper dir its times back,
// when it was copied up and is still a directory.
func restoreTimes(upfd int, pt parentTime) error {
	dir, name, err := fsroot.OpenParent(upfd, pt.path)
	if isGone(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	var fi unix.Stat_t
	if err := unix.Fstatat(dir, name, &fi, unix.AT_SYMLINK_NOFOLLOW); err != nil || fi.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil // not copied up, or replaced
	}
	return unix.UtimesNanoAt(dir, name, pt.ts[:], unix.AT_SYMLINK_NOFOLLOW)
}

// isGone reports whether an openat2 error means that a parent is missing,
// a symlink or not a directory.
func isGone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.EXDEV)
}

// isEmptyStub reports whether name in directory dir is an empty regular
// file or an empty directory (false when it does not exist), and whether it
// is a directory.
func isEmptyStub(dir int, name string) (empty, isDir bool, err error) {
	var fi unix.Stat_t
	if err := unix.Fstatat(dir, name, &fi, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, false, nil
		}
		return false, false, err
	}
	switch fi.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return fi.Size == 0, false, nil
	case unix.S_IFDIR:
		fd, err := fsroot.Open(dir, name, unix.O_RDONLY|unix.O_DIRECTORY, fsroot.Beneath)
		if err != nil {
			return false, true, err
		}
		f := os.NewFile(uintptr(fd), name)
		defer f.Close()
		_, err = f.Readdirnames(1)
		if errors.Is(err, io.EOF) {
			return true, true, nil
		}
		return false, true, err
	}
	return false, false, nil
}

// lstatAt stats p below the directory dirfd without following any symlink
// on the way or at its end: a symlinked parent reads as ELOOP.
func lstatAt(dirfd int, p string) (unix.Stat_t, error) {
	var fi unix.Stat_t
	dir, name, err := fsroot.OpenParent(dirfd, p)
	if err != nil {
		return fi, err
	}
	defer unix.Close(dir)
	err = unix.Fstatat(dir, name, &fi, unix.AT_SYMLINK_NOFOLLOW)
	return fi, err
}

func openDir(p string) (*os.File, error) {
	return os.OpenFile(p, os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}
