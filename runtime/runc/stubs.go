package runc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Stubs are the mount points runc will create in a rootfs because they do
// not exist there (empty files or directories, with missing parents). Found
// before a run, they are removed from the overlay's upper dir after it, so
// that they never reach a layer.
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
			var fi unix.Stat_t
			err := unix.Lstat(filepath.Join(rootfs, p), &fi)
			if err == nil {
				if fi.Mode&unix.S_IFMT == unix.S_IFDIR {
					continue
				}
				break // exists, or a symlink or file runc resolves itself
			}
			if !errors.Is(err, unix.ENOENT) {
				return nil, fmt.Errorf("finding mount stubs: %w", &os.PathError{Op: "lstat", Path: filepath.Join(rootfs, p), Err: err})
			}
			parent := path.Dir(p)
			if !seenParent[parent] {
				var pst unix.Stat_t
				if err := unix.Lstat(filepath.Join(rootfs, parent), &pst); err != nil {
					return nil, fmt.Errorf("finding mount stubs: %w", err)
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
				if upper != "" && j == i {
					var ust unix.Stat_t
					if unix.Lstat(filepath.Join(upper, sp), &ust) == nil && ust.Mode&unix.S_IFMT == unix.S_IFCHR && ust.Rdev == 0 {
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
// times back, so that they equal the lower's again.
func (st *Stubs) Remove(upper string) error {
	removed := false
	for i := len(st.stubs) - 1; i >= 0; i-- {
		s := st.stubs[i]
		p := filepath.Join(upper, s.path)
		empty, err := isEmptyStub(p)
		if err != nil {
			return fmt.Errorf("removing mount stub %s: %w", s.path, err)
		}
		if !empty {
			continue
		}
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("removing mount stub %s: %w", s.path, err)
		}
		removed = true
		if s.whiteout {
			if err := unix.Mknod(p, unix.S_IFCHR, 0); err != nil {
				return fmt.Errorf("restoring whiteout %s: %w", s.path, err)
			}
		}
	}
	if !removed {
		return nil
	}
	for _, pt := range st.parents {
		p := filepath.Join(upper, pt.path)
		var fi unix.Stat_t
		if err := unix.Lstat(p, &fi); err != nil || fi.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue // not copied up
		}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, pt.ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("restoring times of %s: %w", pt.path, err)
		}
	}
	return nil
}

// isEmptyStub reports whether p is an empty regular file or an empty
// directory (false when it does not exist).
func isEmptyStub(p string) (bool, error) {
	var fi unix.Stat_t
	if err := unix.Lstat(p, &fi); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, err
	}
	switch fi.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return fi.Size == 0, nil
	case unix.S_IFDIR:
		f, err := os.Open(p)
		if err != nil {
			return false, err
		}
		defer f.Close()
		_, err = f.Readdirnames(1)
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		return false, err
	}
	return false, nil
}
