package layer

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/internal/chmod"
)

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// Options controls how layers are written.
type Options struct {
	// SourceDateEpoch, when set, clamps every mtime to it (reproducible builds).
	SourceDateEpoch *time.Time
	// Lowers (top first) are the lower dirs of the overlay the upper dir
	// was mounted over. When set, WriteUpperDir leaves out directories that
	// are in the upper only because of a copy-up: ones that are not opaque,
	// have nothing to write below them, and whose metadata (type, mode,
	// owner, mtime, xattrs) equals the top-most lower's directory.
	Lowers []string
	// Entry, when set, is called with the name of every entry written, in
	// order, so that a caller can check a layer without reading it back.
	Entry func(name string)
}

// modTime truncates t to whole seconds (as Docker does, so that no PAX mtime
// record is needed) and clamps it to SourceDateEpoch.
func (o Options) modTime(t time.Time) time.Time {
	t = t.Truncate(time.Second)
	if o.SourceDateEpoch != nil {
		epoch := o.SourceDateEpoch.Truncate(time.Second)
		if t.After(epoch) {
			t = epoch
		}
	}
	return t.UTC()
}

// WriteUpperDir writes an overlayfs upper dir as an uncompressed OCI layer tar to w.
// Deterministic: entries sorted by path (parents before children), numeric uid/gid, no
// uname/gname, no atime/ctime, PAX format, mtimes clamped when SourceDateEpoch is set.
// A char 0:0 device becomes an empty regular file ".wh.NAME" (detected before hard links);
// a dir with xattr trusted.overlay.opaque=y gets a "DIR/.wh..wh..opq" entry; trusted.overlay.*
// xattrs are never written; other xattrs (security.capability etc.) are kept; real hard links within
// the upper are written as tar hard links; sockets are skipped.
// Returns empty=true when the upper dir had no entries at all.
//
// Directories renamed with overlay redirect_dir or files copied up with
// metacopy cannot be expressed without the lower layers and are an error;
// overlay.Mount turns both features off.
func WriteUpperDir(w io.Writer, upper string, opts Options) (empty bool, err error) {
	fi, err := os.Lstat(upper)
	if err != nil {
		return false, fmt.Errorf("reading upper dir: %w", err)
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("reading upper dir: %s is not a directory", upper)
	}
	n, err := writeTar(w, opts.Entry, func(emit func(*tarItem) error) error {
		uw := &upperWriter{emit: emit, opts: opts, links: make(map[devIno]string)}
		return uw.writeDir(upper, "", len(opts.Lowers) > 0)
	})
	if err != nil {
		return false, err
	}
	return n == 0, nil
}

type devIno struct{ dev, ino uint64 }

// upperWriter lists an upper dir's entries for writeTar.
type upperWriter struct {
	emit  func(*tarItem) error
	opts  Options
	links map[devIno]string // first tar name of each multiply-linked inode
	dirs  map[lowerDirKey]lowerDir
	// pending holds the headers of unchanged copied-up directories, written
	// only when something below them is.
	pending []*tar.Header
}

type upperChild struct {
	name    string // name in the upper dir
	outName string // name in the layer (".wh.NAME" for whiteouts)
	st      unix.Stat_t
}

func isWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// writeDir writes what the upper's directory abs (rel in the layer)
// holds; inLowers says the lowers have that directory too (not deleted
// or hidden by an opaque directory), so its entries may be copy-ups.
func (uw *upperWriter) writeDir(abs, rel string, inLowers bool) error {
	f, err := os.Open(abs)
	if err != nil {
		return fmt.Errorf("reading upper dir: %w", err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("reading upper dir %s: %w", abs, err)
	}
	children := make([]upperChild, 0, len(names))
	for _, name := range names {
		c := upperChild{name: name, outName: name}
		if err := unix.Lstat(filepath.Join(abs, name), &c.st); err != nil {
			return fmt.Errorf("reading upper dir: %w", &os.PathError{Op: "lstat", Path: filepath.Join(abs, name), Err: err})
		}
		if isWhiteout(&c.st) {
			c.outName = whiteoutPrefix + name
		} else if strings.HasPrefix(name, whiteoutPrefix) {
			return fmt.Errorf("writing layer: %s: file names starting with %q are reserved for whiteouts", path.Join(rel, name), whiteoutPrefix)
		}
		children = append(children, c)
	}
	sort.Slice(children, func(i, j int) bool { return children[i].outName < children[j].outName })
	for i := range children {
		if err := uw.writeChild(abs, rel, &children[i], inLowers); err != nil {
			return err
		}
	}
	return nil
}

func (uw *upperWriter) writeChild(parentAbs, parentRel string, c *upperChild, inLowers bool) error {
	abs := filepath.Join(parentAbs, c.name)
	rel := path.Join(parentRel, c.name)
	st := &c.st
	mtime := uw.opts.modTime(time.Unix(st.Mtim.Unix()))

	// Whiteouts first: the kernel hard-links every whiteout to one inode, so
	// the hard-link check below would otherwise turn them into links.
	if isWhiteout(st) {
		return uw.write(&tar.Header{
			Typeflag: tar.TypeReg,
			Name:     path.Join(parentRel, c.outName),
			Mode:     int64(st.Mode & 0o7777),
			Uid:      int(st.Uid),
			Gid:      int(st.Gid),
			ModTime:  mtime,
			Format:   tar.FormatPAX,
		}, nil)
	}

	pax, opaque, err := upperXattrs(abs, rel)
	if err != nil {
		return err
	}

	hdr := &tar.Header{
		Name:       rel,
		Mode:       int64(st.Mode & 0o7777),
		Uid:        int(st.Uid),
		Gid:        int(st.Gid),
		ModTime:    mtime,
		PAXRecords: pax,
		Format:     tar.FormatPAX,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return uw.writeChildDir(abs, rel, hdr, st, opaque, inLowers)
	case unix.S_IFSOCK:
		return nil
	case unix.S_IFREG, unix.S_IFLNK:
		if st.Nlink > 1 {
			key := devIno{uint64(st.Dev), st.Ino}
			if first, ok := uw.links[key]; ok {
				hdr.Typeflag = tar.TypeLink
				hdr.Linkname = first
				return uw.write(hdr, nil)
			}
			uw.links[key] = rel
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			target, err := os.Readlink(abs)
			if err != nil {
				return fmt.Errorf("writing layer: %w", err)
			}
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = target
			return uw.write(hdr, nil)
		}
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
		if inLowers && st.Nlink == 1 {
			same, err := uw.fileInLowers(abs, rel, st, pax)
			if err != nil || same {
				// Only copied up (opened for writing, unchanged): the
				// lowers give it already, as BuildKit's differ finds.
				return err
			}
		}
		return uw.write(hdr, func() (io.ReadCloser, error) {
			return os.OpenFile(abs, os.O_RDONLY|unix.O_NOFOLLOW, 0)
		})
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor = int64(unix.Major(st.Rdev))
		hdr.Devminor = int64(unix.Minor(st.Rdev))
		return uw.write(hdr, nil)
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
		return uw.write(hdr, nil)
	default:
		return fmt.Errorf("writing layer: %s has an unknown file type %#o", rel, st.Mode&unix.S_IFMT)
	}
}

// upperXattrs returns the xattrs of abs (the upper dir's rel) as PAX
// records, without overlay's own, and whether they mark it opaque. It
// refuses what overlay features a layer cannot express left behind.
func upperXattrs(abs, rel string) (pax map[string]string, opaque bool, err error) {
	names, values, err := listXattrs(abs)
	if err != nil {
		return nil, false, fmt.Errorf("writing layer: %w", err)
	}
	for _, name := range names {
		switch {
		case name == opaqueXattr:
			opaque = string(values[name]) == "y"
		case name == "trusted.overlay.redirect":
			return nil, false, fmt.Errorf("writing layer: %s was renamed with overlay redirect_dir, which a layer cannot express", rel)
		case name == "trusted.overlay.metacopy":
			return nil, false, fmt.Errorf("writing layer: %s was copied up with overlay metacopy and has no data in the upper dir", rel)
		case isOverlayXattr(name):
		default:
			if pax == nil {
				pax = make(map[string]string)
			}
			pax[paxXattrPrefix+name] = string(values[name])
		}
	}
	return pax, opaque, nil
}

// writeChildDir writes the directory abs (rel in the layer) with header
// hdr, its opaque marker, and what it holds. A directory only copied up
// (unchanged from the lowers) is written only if something below it is;
// one the lowers lack, or hide (below an opaque directory), was made anew,
// and so was everything below it, whatever the hidden lowers hold there.
func (uw *upperWriter) writeChildDir(abs, rel string, hdr *tar.Header, st *unix.Stat_t, opaque, inLowers bool) error {
	hdr.Typeflag = tar.TypeDir
	hdr.Name = rel + "/"
	below := false // the lowers have rel as a directory too
	if !opaque && inLowers {
		p, lst, found, err := uw.lowerLookup(rel)
		if err != nil {
			return err
		}
		below = found && lst.Mode&unix.S_IFMT == unix.S_IFDIR
		// A directory's mtime alone does not make it changed (files made
		// and removed below it by one step touch it): BuildKit's overlay
		// differ and continuity compare directories so, and both engines
		// must write the same layer.
		if below && lst.Mode == st.Mode && lst.Uid == st.Uid && lst.Gid == st.Gid {
			same, err := sameXattrs(p, hdr.PAXRecords)
			if err != nil {
				return err
			}
			if same {
				uw.pending = append(uw.pending, hdr)
				n := len(uw.pending)
				err := uw.writeDir(abs, rel, true)
				if len(uw.pending) >= n {
					uw.pending = uw.pending[:n-1] // nothing below it was written
				}
				return err
			}
		}
	}
	if err := uw.write(hdr, nil); err != nil {
		return err
	}
	if opaque {
		if err := uw.write(&tar.Header{
			Typeflag: tar.TypeReg,
			Name:     path.Join(rel, opaqueMarker),
			Mode:     int64(st.Mode & 0o777),
			Uid:      int(st.Uid),
			Gid:      int(st.Gid),
			ModTime:  hdr.ModTime,
			Format:   tar.FormatPAX,
		}, nil); err != nil {
			return err
		}
	}
	return uw.writeDir(abs, rel, below)
}

// lowerLookup finds rel in the lowers as overlayfs does: in the top-most
// lower that has it, unless a lower above deletes or replaces a directory
// above rel (a whiteout, a file, an opaque directory), which hides the
// lowers below it. p is its path there.
func (uw *upperWriter) lowerLookup(rel string) (p string, st unix.Stat_t, found bool, err error) {
	for i, lower := range uw.opts.Lowers {
		ds, err := uw.dirState(i, parentOf(rel))
		if err != nil {
			return "", st, false, err
		}
		switch ds {
		case dirAbsent:
			continue
		case dirHides:
			return "", st, false, nil
		}
		p = filepath.Join(lower, rel)
		err = unix.Lstat(p, &st)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			if ds == dirOpaque {
				return "", st, false, nil
			}
			continue
		}
		if err != nil {
			return "", st, false, fmt.Errorf("writing layer: reading lower dir: %w", &os.PathError{Op: "lstat", Path: p, Err: err})
		}
		if isWhiteout(&st) {
			return "", st, false, nil
		}
		return p, st, true, nil
	}
	return "", st, false, nil
}

// What a lower holds at a directory's path, for lookups below it.
type lowerDir uint8

const (
	dirPlain  lowerDir = iota // a directory
	dirOpaque                 // an opaque directory: the lowers below hold nothing under it
	dirAbsent                 // nothing: look in the lowers below
	dirHides                  // a whiteout or a file, or nothing below an opaque directory
)

func parentOf(rel string) string {
	if d := path.Dir(rel); d != "." && d != "/" {
		return d
	}
	return ""
}

// dirState says what lower i holds at the directory d ("" its root),
// remembered for the layer: every entry of a directory asks.
func (uw *upperWriter) dirState(i int, d string) (lowerDir, error) {
	if d == "" {
		return dirPlain, nil
	}
	key := lowerDirKey{i, d}
	if ds, ok := uw.dirs[key]; ok {
		return ds, nil
	}
	// What a lower holds above d decides first: below a whiteout, a
	// file or a symlink nothing of d is seen (and nothing is followed),
	// and below an opaque directory the lowers under this one are hidden.
	up, err := uw.dirState(i, parentOf(d))
	if err != nil {
		return 0, err
	}
	var ds lowerDir
	switch up {
	case dirHides:
		ds = dirHides
	case dirAbsent:
		ds = dirAbsent
	default:
		p := filepath.Join(uw.opts.Lowers[i], d)
		var st unix.Stat_t
		err := unix.Lstat(p, &st)
		switch {
		case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR):
			ds = dirAbsent
			if up == dirOpaque {
				ds = dirHides
			}
		case err != nil:
			return 0, fmt.Errorf("writing layer: reading lower dir: %w", &os.PathError{Op: "lstat", Path: p, Err: err})
		case st.Mode&unix.S_IFMT != unix.S_IFDIR:
			ds = dirHides
		case up == dirOpaque:
			ds = dirOpaque
		default:
			ds = dirPlain
			if v, err := getXattr(p, opaqueXattr); err == nil && string(v) == "y" {
				ds = dirOpaque
			}
		}
	}
	if uw.dirs == nil {
		uw.dirs = map[lowerDirKey]lowerDir{}
	}
	uw.dirs[key] = ds
	return ds, nil
}

type lowerDirKey struct {
	lower int
	dir   string
}

// sameXattrs reports whether the lower file p has exactly the xattrs
// pax holds (overlay's own left out).
func sameXattrs(p string, pax map[string]string) (bool, error) {
	names, values, err := listXattrs(p)
	if err != nil {
		return false, fmt.Errorf("writing layer: reading lower dir: %w", err)
	}
	n := 0
	for _, name := range names {
		if isOverlayXattr(name) {
			continue
		}
		n++
		if v, ok := pax[paxXattrPrefix+name]; !ok || v != string(values[name]) {
			return false, nil
		}
	}
	return n == len(pax), nil
}

// fileInLowers reports whether the regular file abs (rel in the layer,
// stat st, xattrs pax) is what the lowers give at rel already: a file a
// step opened for writing and left as it was (RUN : >> /etc/passwd), which
// overlayfs copied up. Its type, mode, owner, size and mtime must be the
// same, then its xattrs and its bytes.
func (uw *upperWriter) fileInLowers(abs, rel string, st *unix.Stat_t, pax map[string]string) (bool, error) {
	p, lst, found, err := uw.lowerLookup(rel)
	if err != nil || !found {
		return false, err
	}
	if lst.Mode != st.Mode || lst.Uid != st.Uid || lst.Gid != st.Gid || lst.Size != st.Size || lst.Mtim != st.Mtim {
		return false, nil
	}
	if same, err := sameXattrs(p, pax); err != nil || !same {
		return false, err
	}
	return sameContent(abs, p)
}

// sameContent reports whether files a and b hold the same bytes.
func sameContent(a, b string) (bool, error) {
	fa, err := os.OpenFile(a, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return false, fmt.Errorf("writing layer: %w", err)
	}
	defer fa.Close()
	fb, err := os.OpenFile(b, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return false, fmt.Errorf("writing layer: reading lower dir: %w", err)
	}
	defer fb.Close()
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea != nil || eb != nil {
			doneA := errors.Is(ea, io.EOF) || errors.Is(ea, io.ErrUnexpectedEOF)
			doneB := errors.Is(eb, io.EOF) || errors.Is(eb, io.ErrUnexpectedEOF)
			if !doneA || !doneB {
				if !doneA && ea != nil {
					return false, fmt.Errorf("writing layer: %w", ea)
				}
				if !doneB && eb != nil {
					return false, fmt.Errorf("writing layer: reading lower dir: %w", eb)
				}
				return false, nil
			}
			return true, nil
		}
	}
}

// write has hdr written, after the copied-up directories above it, with
// the content open opens (nil for none).
func (uw *upperWriter) write(hdr *tar.Header, open func() (io.ReadCloser, error)) error {
	for _, p := range uw.pending {
		if err := uw.emit(&tarItem{hdr: p, name: p.Name}); err != nil {
			return err
		}
	}
	uw.pending = uw.pending[:0]
	return uw.emit(&tarItem{hdr: hdr, name: hdr.Name, open: open})
}

// copyExactly copies size bytes and fails if r holds fewer or more, so a
// file that changes while it is archived cannot corrupt the tar.
//
// It copies through a buffer from a pool: io.CopyN would allocate one of
// up to 32 KiB per file, and a layer of 100,000 files then touched 450 MB
// of fresh memory between two collections (116,000 page faults, the
// kernel zeroing each page) for nothing.
func copyExactly(w io.Writer, r io.Reader, size int64) error {
	bp := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(w, io.LimitReader(r, size), *bp)
	copyBufs.Put(bp)
	if err == nil && n < size {
		err = io.EOF
	}
	if errors.Is(err, io.EOF) {
		return contentShort(n, size)
	}
	if err != nil {
		return err
	}
	var one [1]byte
	if m, _ := io.ReadFull(r, one[:]); m > 0 {
		return contentLong(size)
	}
	return nil
}

// Entry is one file of a layer built without a container (copy, add).
type Entry struct {
	Path     string      // absolute path in the image, e.g. "/app/main.py"
	Mode     fs.FileMode // type bits (fs.ModeDir, fs.ModeSymlink, 0 = regular) + perm + setuid/setgid/sticky
	UID, GID int
	Size     int64
	Linkname string // symlink target
	ModTime  time.Time
	// Open opens a regular file's content. WriteEntries may call it on
	// another goroutine, at once with other entries' Open, ahead of
	// writing the entry, and for entries it then does not write (when an
	// earlier one fails); each ReadCloser it returns is closed.
	Open func() (io.ReadCloser, error)
}

// sortKey orders paths so that parents come right before their children
// and every subtree is contiguous ("/a", "/a/b", "/a.b").
func sortKey(p string) string { return strings.ReplaceAll(p, "/", "\x00") }

// checkEntries validates entries and returns them sorted, parents first.
func checkEntries(entries []Entry) ([]Entry, error) {
	sorted := make([]Entry, len(entries))
	copy(sorted, entries)
	for _, e := range sorted {
		if !path.IsAbs(e.Path) || path.Clean(e.Path) != e.Path || e.Path == "/" {
			return nil, fmt.Errorf("entry %q: path must be absolute, clean and not the root", e.Path)
		}
		for _, part := range strings.Split(e.Path[1:], "/") {
			if strings.HasPrefix(part, whiteoutPrefix) {
				return nil, fmt.Errorf("entry %q: file names starting with %q are reserved for whiteouts", e.Path, whiteoutPrefix)
			}
		}
		if e.UID < 0 || e.GID < 0 {
			return nil, fmt.Errorf("entry %q: negative owner %d:%d", e.Path, e.UID, e.GID)
		}
		switch e.Mode.Type() {
		case 0:
			if e.Size < 0 || (e.Size > 0 && e.Open == nil) {
				return nil, fmt.Errorf("entry %q: regular file of size %d without content", e.Path, e.Size)
			}
		case fs.ModeDir:
		case fs.ModeSymlink:
			if e.Linkname == "" {
				return nil, fmt.Errorf("entry %q: symlink without a target", e.Path)
			}
		default:
			return nil, fmt.Errorf("entry %q: unsupported file type %v", e.Path, e.Mode.Type())
		}
	}
	sort.SliceStable(sorted, func(i, j int) bool { return sortKey(sorted[i].Path) < sortKey(sorted[j].Path) })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Path == sorted[i-1].Path {
			return nil, fmt.Errorf("entry %q appears twice", sorted[i].Path)
		}
	}
	return sorted, nil
}

// WriteEntries writes entries as a deterministic layer tar (sorted by path, parents first; the
// caller supplies parent dirs it wants included).
func WriteEntries(w io.Writer, entries []Entry, opts Options) error {
	sorted, err := checkEntries(entries)
	if err != nil {
		return fmt.Errorf("writing layer: %w", err)
	}
	_, err = writeTar(w, opts.Entry, func(emit func(*tarItem) error) error {
		for _, e := range sorted {
			it := &tarItem{name: e.Path, hdr: &tar.Header{
				Name:    strings.TrimPrefix(e.Path, "/"),
				Mode:    int64(chmod.ToUnix(e.Mode)),
				Uid:     e.UID,
				Gid:     e.GID,
				ModTime: opts.modTime(e.ModTime),
				Format:  tar.FormatPAX,
			}}
			switch e.Mode.Type() {
			case fs.ModeDir:
				it.hdr.Typeflag = tar.TypeDir
				it.hdr.Name += "/"
			case fs.ModeSymlink:
				it.hdr.Typeflag = tar.TypeSymlink
				it.hdr.Linkname = e.Linkname
			default:
				it.hdr.Typeflag = tar.TypeReg
				it.hdr.Size = e.Size
				it.open = e.Open
			}
			if err := emit(it); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}
