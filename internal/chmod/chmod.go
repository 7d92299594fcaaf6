// Package chmod reads the chmod of a copy (COPY --chmod), octal or
// symbolic, as BuildKit does.
package chmod

import (
	"fmt"
	"io/fs"
	"strconv"

	mode "github.com/tonistiigi/dchapes-mode"
)

// A Chmod is a copy's chmod, as BuildKit's Dockerfile frontend takes it:
// an octal mode (0755), which replaces each file's permissions, or a
// symbolic one as chmod(1) takes it (u=rwx,g=rx,o=; a+x; go-w), which is
// applied to each source file's own mode.
type Chmod struct {
	octal fs.FileMode // permission and special bits, when set is nil
	set   *mode.Set
}

// Parse reads a chmod; nil when s is empty.
func Parse(s string) (*Chmod, error) {
	if s == "" {
		return nil, nil
	}
	n, err := strconv.ParseUint(s, 8, 32)
	if err == nil {
		if n > 0o7777 {
			return nil, fmt.Errorf("chmod %q: an octal mode is at most 7777", s)
		}
		return &Chmod{octal: FromUnix(uint32(n))}, nil
	}
	set, err := mode.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("chmod %q is neither an octal mode such as 0755 nor a symbolic one such as u=rwx,go=rx", s)
	}
	return &Chmod{set: &set}, nil
}

// Octal returns the octal mode as a number, and whether the chmod is
// octal.
func (c *Chmod) Octal() (uint32, bool) {
	if c.set != nil {
		return 0, false
	}
	return ToUnix(c.octal), true
}

// Apply returns the mode a file of mode m gets: its type, with the
// chmod's permissions.
func (c *Chmod) Apply(m fs.FileMode) fs.FileMode {
	if c.set != nil {
		return m.Type() | c.set.Apply(m)&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
	}
	return m.Type() | c.octal
}

// FromUnix is the fs.FileMode of a numeric mode's permission, setuid,
// setgid and sticky bits (0o4755 is fs.ModeSetuid|0o755).
func FromUnix(n uint32) fs.FileMode {
	m := fs.FileMode(n).Perm()
	if n&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// ToUnix is FromUnix backwards: the numeric mode of m's permission and
// special bits, as tar headers and chmod take it.
func ToUnix(m fs.FileMode) uint32 {
	n := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		n |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		n |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		n |= 0o1000
	}
	return n
}
