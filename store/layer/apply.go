package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/internal/chmod"
)

// ApplyOptions controls unpacking.
type ApplyOptions struct {
	// AllowDevices permits character and block device entries; devices
	// from untrusted base layers are refused by default.
	AllowDevices bool
	// MaxSize bounds the bytes the layer may unpack (see ApplyStats.Size);
	// past it Apply fails with an error wrapping ErrTooLarge that names
	// the entry. 0 means no bound.
	MaxSize int64
	// Stats, when set, receives what was unpacked, also on failure.
	Stats *ApplyStats
}

// ApplyStats is what Apply unpacked.
type ApplyStats struct {
	// Size counts file contents by their logical size as they are
	// written (holes of sparse entries included, though they are written
	// as holes and take no disk space), and each entry's header: 512 bytes
	// plus its names and PAX records, so that millions of empty entries
	// count too.
	Size    int64
	Entries int
}

// ErrTooLarge is wrapped by the error of a layer that unpacks to more
// than ApplyOptions.MaxSize.
var ErrTooLarge = errors.New("layer unpacks to more than its bound")

// maxNameLen bounds entry and link names: Linux refuses longer paths
// (PATH_MAX), and the tar reader would hold up to a MiB each.
const maxNameLen = 4096

// headerCost is what an entry counts against MaxSize besides its content.
func headerCost(hdr *tar.Header) int64 {
	n := int64(512 + len(hdr.Name) + len(hdr.Linkname))
	for k, v := range hdr.PAXRecords {
		n += int64(len(k) + len(v))
	}
	return n
}

// Apply unpacks an uncompressed OCI layer tar into dir so that dir can serve as an overlay lower dir:
// ".wh.NAME" -> char 0:0 device NAME; ".wh..wh..opq" -> trusted.overlay.opaque=y on its dir.
// It never writes outside dir: rejects absolute/".." paths, never follows a symlink while resolving
// a path (a symlink planted by the layer pointing outside must not be traversed), hard links must
// point inside the layer's own tree; refuses device nodes unless AllowDevices (returns an error
// naming the entry). Sets owner, mode, mtime, xattrs (except trusted.overlay.*).
func Apply(r io.Reader, dir string, opts ApplyOptions) error {
	return apply(r, dir, opts, false)
}

// ApplyToRoot is like Apply but for extracting into a merged filesystem (e.g. `add` archives or
// flattening): whiteouts delete the named path instead of making a device, and an opaque marker
// deletes what its directory held before this layer. Symlinks in parent paths (such as /lib ->
// usr/lib in a merged-/usr root) are followed as if dir were "/", so they cannot lead outside dir.
func ApplyToRoot(r io.Reader, dir string, opts ApplyOptions) error {
	return apply(r, dir, opts, true)
}

type applier struct {
	t      *tree
	opts   ApplyOptions
	merged bool
	// written holds every path this layer created, for opaque markers in
	// a merged root, which hide only what lay below.
	written map[string]bool
	dirs    []dirTime
}

type dirTime struct {
	rel          string
	atime, mtime time.Time
}

func apply(r io.Reader, dir string, opts ApplyOptions, merged bool) error {
	resolve := uint64(resolveBeneath)
	if merged {
		resolve = resolveInRoot
	}
	t, err := openTree(dir, resolve)
	if err != nil {
		return fmt.Errorf("applying layer: %w", err)
	}
	defer t.close()
	a := &applier{t: t, opts: opts, merged: merged, written: make(map[string]bool)}
	if a.opts.Stats == nil {
		a.opts.Stats = new(ApplyStats)
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("applying layer: reading tar: %w", err)
		}
		if len(hdr.Name) > maxNameLen || len(hdr.Linkname) > maxNameLen {
			return fmt.Errorf("applying layer: entry %.64q...: name or link target longer than %d bytes", hdr.Name, maxNameLen)
		}
		if err := a.charge(headerCost(hdr)); err != nil {
			return fmt.Errorf("applying layer: entry %q: %w", hdr.Name, err)
		}
		a.opts.Stats.Entries++
		if err := a.entry(hdr, &budgetReader{a: a, r: tr}); err != nil {
			return fmt.Errorf("applying layer: %w", err)
		}
	}
	if err := a.finishDirs(); err != nil {
		return fmt.Errorf("applying layer: %w", err)
	}
	return nil
}

// charge counts n bytes against MaxSize.
func (a *applier) charge(n int64) error {
	a.opts.Stats.Size += n
	if a.opts.MaxSize > 0 && a.opts.Stats.Size > a.opts.MaxSize {
		return fmt.Errorf("%w of %d bytes", ErrTooLarge, a.opts.MaxSize)
	}
	return nil
}

// budgetReader charges what an entry's content yields as it is read, so a
// size claimed in a header counts only once it is delivered.
type budgetReader struct {
	a *applier
	r io.Reader
}

func (b *budgetReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if cerr := b.a.charge(int64(n)); cerr != nil {
		// Nothing read, or io.ReadFull would drop the error.
		return 0, cerr
	}
	return n, err
}

// node is one file to create, from a tar header or an Entry.
type node struct {
	rel          string
	typ          byte
	mode         uint32
	uid, gid     int
	linkname     string
	size         int64
	content      io.Reader
	open         func() (io.ReadCloser, error)
	major, minor int64
	atime, mtime time.Time
	xattrs       map[string]string
}

func (a *applier) entry(hdr *tar.Header, content io.Reader) error {
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeChar, tar.TypeBlock:
		if !a.opts.AllowDevices {
			return fmt.Errorf("entry %q: refusing device node from an untrusted layer", hdr.Name)
		}
	}
	dir, base := path.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	if base == opaqueMarker {
		return a.opaque(dir)
	}
	if strings.HasPrefix(base, whiteoutPrefix) {
		return a.whiteout(dir, base[len(whiteoutPrefix):], hdr)
	}
	if rel == "" {
		return nil // the root's own metadata belongs to whoever owns dir
	}
	n := &node{
		rel:      rel,
		typ:      hdr.Typeflag,
		mode:     uint32(hdr.Mode) & 0o7777,
		uid:      hdr.Uid,
		gid:      hdr.Gid,
		linkname: hdr.Linkname,
		size:     hdr.Size,
		content:  content,
		major:    hdr.Devmajor,
		minor:    hdr.Devminor,
		atime:    hdr.AccessTime,
		mtime:    hdr.ModTime,
	}
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, paxXattrPrefix); ok && !isOverlayXattr(name) {
			if n.xattrs == nil {
				n.xattrs = make(map[string]string)
			}
			n.xattrs[name] = v
		}
	}
	if err := a.create(n); err != nil {
		return fmt.Errorf("entry %q: %w", hdr.Name, err)
	}
	return nil
}

func (a *applier) opaque(dir string) error {
	if !a.merged {
		fd, err := a.t.dir(dir, true)
		if err != nil {
			return err
		}
		if err := unix.Fsetxattr(fd, opaqueXattr, []byte("y"), 0); err != nil {
			return fmt.Errorf("marking %s opaque: %w", dir, err)
		}
		return nil
	}
	return a.removeUnwritten(dir)
}

// removeUnwritten deletes everything under dir that this layer did not
// write itself.
func (a *applier) removeUnwritten(dir string) error {
	fd, err := a.t.dir(dir, false)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	f, err := os.Open(procPath(fd, "."))
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("reading %s: %w", dir, err)
	}
	sort.Strings(names)
	for _, name := range names {
		rel := path.Join(dir, name)
		if !a.written[rel] {
			if fd, err = a.t.dir(dir, false); err != nil {
				return err
			}
			if err := a.t.removeAt(fd, name); err != nil {
				return fmt.Errorf("removing %s below an opaque directory: %w", rel, err)
			}
			continue
		}
		var st unix.Stat_t
		if fd, err = a.t.dir(dir, false); err != nil {
			return err
		}
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if err := a.removeUnwritten(rel); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *applier) whiteout(dir, name string, hdr *tar.Header) error {
	entryName := hdr.Name
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return fmt.Errorf("entry %q: invalid whiteout", entryName)
	}
	fd, err := a.t.dir(dir, !a.merged)
	if a.merged && errors.Is(err, unix.ENOENT) {
		return nil // nothing to delete
	}
	if err != nil {
		return err
	}
	if err := a.t.removeAt(fd, name); err != nil {
		return fmt.Errorf("entry %q: %w", entryName, err)
	}
	if a.merged {
		delete(a.written, path.Join(dir, name))
		return nil
	}
	if fd, err = a.t.dir(dir, false); err != nil {
		return err
	}
	if err := unix.Mknodat(fd, name, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("entry %q: making whiteout: %w", entryName, err)
	}
	// The marker's owner and mtime, so that writing the dir back as a
	// layer gives the same tar.
	if err := unix.Fchownat(fd, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("entry %q: %w", entryName, err)
	}
	if err := setTimesAt(fd, name, hdr.ModTime, hdr.ModTime); err != nil {
		return fmt.Errorf("entry %q: %w", entryName, err)
	}
	return nil
}

// create makes n, replacing whatever is in its place unless both are
// directories, then sets its metadata.
func (a *applier) create(n *node) error {
	dir, base := path.Split(n.rel)
	dir = strings.TrimSuffix(dir, "/")
	fd, err := a.t.dir(dir, true)
	if err != nil {
		return err
	}
	var st unix.Stat_t
	exists := unix.Fstatat(fd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
	existingDir := exists && st.Mode&unix.S_IFMT == unix.S_IFDIR
	if exists && !(existingDir && n.typ == tar.TypeDir) {
		if err := a.t.removeAt(fd, base); err != nil {
			return fmt.Errorf("replacing existing file: %w", err)
		}
		if fd, err = a.t.dir(dir, false); err != nil {
			return err
		}
	}
	a.written[n.rel] = true

	switch n.typ {
	case tar.TypeDir:
		if !existingDir {
			if err := unix.Mkdirat(fd, base, 0o700); err != nil {
				return err
			}
			if exists && a.t.upper {
				// A non-directory hid the lower one; keep hiding it.
				if err := setXattrAt(fd, base, opaqueXattr, []byte("y")); err != nil {
					return err
				}
			}
		}
	case tar.TypeReg: // archive/tar reads the old TypeRegA as TypeReg
		if err := writeFileAt(fd, base, n); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := unix.Symlinkat(n.linkname, fd, base); err != nil {
			return err
		}
	case tar.TypeLink:
		return a.link(fd, base, n.linkname)
	case tar.TypeChar:
		if err := unix.Mknodat(fd, base, unix.S_IFCHR|n.mode, int(unix.Mkdev(uint32(n.major), uint32(n.minor)))); err != nil {
			return err
		}
	case tar.TypeBlock:
		if err := unix.Mknodat(fd, base, unix.S_IFBLK|n.mode, int(unix.Mkdev(uint32(n.major), uint32(n.minor)))); err != nil {
			return err
		}
	case tar.TypeFifo:
		if err := unix.Mknodat(fd, base, unix.S_IFIFO|n.mode, 0); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unsupported tar entry type %q", n.typ)
	}
	return a.setMetadata(fd, base, n)
}

func writeFileAt(dirfd int, name string, n *node) error {
	fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	content := n.content
	var rc io.ReadCloser
	if n.open != nil {
		rc, err = n.open()
		if err != nil {
			f.Close()
			return fmt.Errorf("opening content: %w", err)
		}
		content = rc
	}
	if content == nil {
		if n.size != 0 {
			f.Close()
			return fmt.Errorf("no content for %d bytes", n.size)
		}
	} else if err := copySparse(f, content, n.size); err != nil {
		f.Close()
		if rc != nil {
			rc.Close()
		}
		return err
	}
	if rc != nil {
		// Close reports what the reader found at the end (a file that
		// changed since it was planned).
		if err := rc.Close(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// link makes a hard link to target, a path of the same tree. The target's
// final component is not followed (linkat without AT_SYMLINK_FOLLOW).
func (a *applier) link(fd int, base, linkname string) error {
	target, err := cleanName(linkname)
	if err != nil {
		return fmt.Errorf("hard link: %w", err)
	}
	if target == "" {
		return fmt.Errorf("hard link to the root directory")
	}
	tdir, tbase := path.Split(target)
	tdir = strings.TrimSuffix(tdir, "/")
	// Open the target's directory independently of the cached one.
	tfd, err := a.t.openat2(tdir)
	if err != nil {
		return fmt.Errorf("hard link to %q: %w", linkname, describeResolveError(tdir, err))
	}
	defer unix.Close(tfd)
	if err := unix.Linkat(tfd, tbase, fd, base, 0); err != nil {
		return fmt.Errorf("hard link to %q: %w", linkname, err)
	}
	return nil
}

func (a *applier) setMetadata(fd int, base string, n *node) error {
	if err := unix.Fchownat(fd, base, n.uid, n.gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting owner: %w", err)
	}
	if n.typ != tar.TypeSymlink {
		// After chown, which clears setuid and setgid bits.
		if err := unix.Fchmodat(fd, base, n.mode, 0); err != nil {
			return fmt.Errorf("setting mode: %w", err)
		}
	}
	names := make([]string, 0, len(n.xattrs))
	for name := range n.xattrs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		// Also after chown, which drops security.capability.
		if err := setXattrAt(fd, base, name, []byte(n.xattrs[name])); err != nil {
			if errors.Is(err, unix.ENOTSUP) {
				continue // the file system cannot hold it, as with cp -a
			}
			if errors.Is(err, unix.EPERM) && n.typ == tar.TypeSymlink && strings.HasPrefix(name, "user.") {
				continue // Linux allows no user.* xattrs on symlinks
			}
			return fmt.Errorf("setting xattr %s: %w", name, err)
		}
	}
	atime := n.atime
	if atime.IsZero() {
		atime = n.mtime
	}
	if n.typ == tar.TypeDir {
		// Creating children changes a directory's mtime: set it last.
		a.dirs = append(a.dirs, dirTime{rel: n.rel, atime: atime, mtime: n.mtime})
		return nil
	}
	return setTimesAt(fd, base, atime, n.mtime)
}

func setTimesAt(fd int, name string, atime, mtime time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	if err := unix.UtimesNanoAt(fd, name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting times: %w", err)
	}
	return nil
}

func (a *applier) finishDirs() error {
	for i := len(a.dirs) - 1; i >= 0; i-- {
		d := a.dirs[i]
		dir, base := path.Split(d.rel)
		fd, err := a.t.dir(strings.TrimSuffix(dir, "/"), false)
		if errors.Is(err, unix.ENOENT) {
			continue // deleted later in the layer
		}
		if err != nil {
			return err
		}
		if err := setTimesAt(fd, base, d.atime, d.mtime); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("%s: %w", d.rel, err)
		}
	}
	return nil
}

// WriteEntriesToDir materialises entries in dir so that several steps of one
// layer compose: an entry replaces what is at its path (a directory over a
// directory only updates its metadata). dir is either a mounted overlay (the
// merged rootfs: parent paths resolve as in the container, symlinks such as
// /lib -> usr/lib followed without leaving dir, and the kernel records
// whiteouts and opaque dirs) or a plain directory such as an unmounted upper
// dir (parent symlinks are refused, and a directory that replaces a whiteout
// or another file is made opaque so the lower stays hidden). Missing parents
// the caller did not supply are created 0755 and owned by root.
func WriteEntriesToDir(dir string, entries []Entry) error {
	sorted, err := checkEntries(entries)
	if err != nil {
		return fmt.Errorf("writing entries: %w", err)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		return fmt.Errorf("writing entries: %w", &os.PathError{Op: "statfs", Path: dir, Err: err})
	}
	merged := sfs.Type == unix.OVERLAYFS_SUPER_MAGIC
	resolve := uint64(resolveBeneath)
	if merged {
		resolve = resolveInRoot
	}
	t, err := openTree(dir, resolve)
	if err != nil {
		return fmt.Errorf("writing entries: %w", err)
	}
	defer t.close()
	t.upper = !merged
	a := &applier{t: t, written: make(map[string]bool)}
	for _, e := range sorted {
		n := &node{
			rel:      strings.TrimPrefix(e.Path, "/"),
			mode:     chmod.ToUnix(e.Mode),
			uid:      e.UID,
			gid:      e.GID,
			linkname: e.Linkname,
			size:     e.Size,
			open:     e.Open,
			mtime:    e.ModTime,
		}
		switch e.Mode.Type() {
		case fs.ModeDir:
			n.typ = tar.TypeDir
		case fs.ModeSymlink:
			n.typ = tar.TypeSymlink
		default:
			n.typ = tar.TypeReg
		}
		if err := a.create(n); err != nil {
			return fmt.Errorf("writing entry %s: %w", e.Path, err)
		}
	}
	if err := a.finishDirs(); err != nil {
		return fmt.Errorf("writing entries: %w", err)
	}
	return nil
}
