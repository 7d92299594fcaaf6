package layer

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

const (
	// overlayXattrPrefix marks overlayfs' private xattrs, which describe one
	// particular mount and must never travel in a layer.
	overlayXattrPrefix = "trusted.overlay."
	opaqueXattr        = "trusted.overlay.opaque"
	paxXattrPrefix     = "SCHILY.xattr."
)

// listXattrs returns the xattrs of path (not following a final symlink),
// overlay ones included, sorted by name. File systems without xattr support
// yield none.
func listXattrs(path string) ([]string, map[string][]byte, error) {
	buf := make([]byte, 1024)
	var n int
	for {
		var err error
		n, err = unix.Llistxattr(path, buf)
		if errors.Is(err, unix.ERANGE) {
			sz, err := unix.Llistxattr(path, nil)
			if err != nil {
				return nil, nil, fmt.Errorf("listing xattrs of %s: %w", path, err)
			}
			buf = make([]byte, sz+64)
			continue
		}
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("listing xattrs of %s: %w", path, err)
		}
		break
	}
	if n == 0 {
		return nil, nil, nil
	}
	var names []string
	for _, name := range bytes.Split(buf[:n], []byte{0}) {
		if len(name) > 0 {
			names = append(names, string(name))
		}
	}
	sort.Strings(names)
	values := make(map[string][]byte, len(names))
	for _, name := range names {
		v, err := getXattr(path, name)
		if errors.Is(err, unix.ENODATA) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading xattr %s of %s: %w", name, path, err)
		}
		values[name] = v
	}
	return names, values, nil
}

func getXattr(path, name string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(path, name, buf)
		if errors.Is(err, unix.ERANGE) {
			sz, err := unix.Lgetxattr(path, name, nil)
			if err != nil {
				return nil, err
			}
			buf = make([]byte, sz+64)
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

func isOverlayXattr(name string) bool { return strings.HasPrefix(name, overlayXattrPrefix) }
