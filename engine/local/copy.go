package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/imageconfig"
	"github.com/imgc-dev/imgc/engine/local/runc"
	"github.com/imgc-dev/imgc/internal/chmod"
	"github.com/imgc-dev/imgc/internal/copyspec"
	"github.com/imgc-dev/imgc/internal/hashio"
	"github.com/imgc-dev/imgc/internal/overlay"
	"github.com/imgc-dev/imgc/internal/par"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store/layer"
)

// copyLayerEntries lists the entries of a layer made only of copy steps,
// against the parent filesystem mounted read-only.
func (tb *targetBuild) copyLayerEntries(ctx context.Context, l *ir.Layer, lowers []string) ([]layer.Entry, error) {
	root, tmp, err := mountLowers(tb.b.s, lowers)
	if err != nil {
		return nil, fmt.Errorf("mounting the parent filesystem: %w", err)
	}
	if tmp != "" {
		defer func() {
			overlay.Unmount(root)
			os.RemoveAll(tmp)
		}()
	}
	byPath := map[string]int{}
	var all []layer.Entry
	for _, st := range l.Steps {
		c := st.(*ir.Copy)
		req := tb.copyRequest(c)
		req.keepParents = true
		entries, err := tb.copyEntries(ctx, req, root)
		if err != nil {
			return nil, &engine.StepError{Target: tb.t.Name, Key: l.Key, Origins: ir.StepOrigins(c), Err: err}
		}
		for _, e := range entries {
			if i, ok := byPath[e.Path]; ok {
				all[i] = e
				continue
			}
			byPath[e.Path] = len(all)
			all = append(all, e)
		}
	}
	return all, nil
}

// copyReq is one copy (or add) to resolve.
type copyReq struct {
	from    string // a target's name; "" is the context
	context string
	sources []string
	dest    string
	exclude []string
	parents bool
	// link makes the entries independent of the filesystem below: every
	// parent directory is written, as with Docker's COPY --link.
	link bool
	// keepParents writes existing parent directories with their metadata
	// from below, for a layer tar made without a mount: the tar is then
	// complete on its own, and unpacked as an overlay lower it does not
	// shadow the parents' metadata with defaults.
	keepParents  bool
	files        []ir.CopyFile
	chown, chmod string
	// content is an inline file's text (ir.Copy.Content).
	content *string
}

func (tb *targetBuild) copyRequest(c *ir.Copy) copyReq {
	dest, files := c.Dest, c.Files
	if c.InWorkdir {
		dest, files = tb.inWorkdir(dest, files)
	}
	return copyReq{from: c.FromTarget, context: c.Context, sources: c.Sources, dest: dest, exclude: c.Exclude,
		parents: c.Parents, link: c.Link, files: files, chown: c.Chown, chmod: c.Chmod, content: c.Content}
}

// inWorkdir moves a copy's destination and files, given as if the image's
// working directory were "/" (ir.Copy.InWorkdir), below it: the base
// image's, which only the build knows (COPY go.mod . on golang lands in
// /go).
func (tb *targetBuild) inWorkdir(dest string, files []ir.CopyFile) (string, []ir.CopyFile) {
	wd := tb.st.Config.Config.WorkingDir
	if wd == "" || wd == "/" {
		return dest, files
	}
	moved := make([]ir.CopyFile, len(files))
	for i, f := range files {
		f.Dst = ir.InImageWorkdir(wd, f.Dst)
		moved[i] = f
	}
	return ir.InImageWorkdir(wd, dest), moved
}

// copyEntries resolves one copy's files into layer entries, with the
// parent directories that dest (the filesystem the files land in) lacks.
func (tb *targetBuild) copyEntries(ctx context.Context, c copyReq, dest string) ([]layer.Entry, error) {
	if c.content != nil {
		return tb.inlineEntries(c, dest)
	}
	from, chown := c.from, c.chown
	srcRoot, files, infos, err := tb.copySources(ctx, c)
	if err != nil {
		return nil, err
	}
	uid, gid, err := resolveOwner(dest, chown)
	if err != nil {
		return nil, err
	}
	cm, err := chmod.Parse(c.chmod)
	if err != nil {
		return nil, err
	}
	var entries []layer.Entry
	have := map[string]bool{}
	at := map[string]int{} // index in entries by path
	resolved := &inRoot{root: dest, memo: map[string]string{}}
	landing, err := tb.destLanding(c, dest)
	if err != nil {
		return nil, err
	}
	infos, errs := statSources(srcRoot, files, infos)
	for i, f := range files {
		p := landing(path.Clean(f.Dst))
		if p == "/" {
			continue
		}
		// Symlinks in the destination are followed inside the image, as
		// Docker does (COPY x /lib/ with /lib -> usr/lib writes usr/lib/x).
		if !c.link {
			if intoDir(dest, c.dest, f, p) {
				// A file copied onto an existing directory, or a symlink
				// to one, lands in it, as in BuildKit: COPY app /usr/bin.
				p = path.Join(p, path.Base(f.Src))
			}
			p = resolved.path(p, f.Mode.IsDir())
			if file := fileAbove(dest, p); file != "" {
				return nil, fmt.Errorf("copying %s to %s: %s is a file, not a directory", f.Src, p, file)
			}
		}
		src := filepath.Join(srcRoot, filepath.FromSlash(f.Src))
		fi, err := infos[i], errs[i]
		if err != nil {
			return nil, fmt.Errorf("copying %s: %w", f.Src, err)
		}
		e := layer.Entry{Path: p, Mode: f.Mode, UID: uid, GID: gid, ModTime: fi.ModTime(), Linkname: f.LinkTarget}
		if from != "" && chown == "" && !(f.Mode.IsDir() && path.Clean(f.Dst) == path.Clean(c.dest)) {
			// Files from another target keep their owners, as in Docker;
			// the destination directory itself is made, not copied.
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				e.UID, e.GID = int(st.Uid), int(st.Gid)
			}
		}
		switch f.Mode.Type() {
		case fs.ModeDir:
			if path.Clean(f.Dst) == path.Clean(c.dest) && !c.link && isDirIn(dest, p) {
				// An existing destination directory keeps its owner and
				// mode, also with --chown and --chmod; its existing
				// subdirectories take the copied ones', as in BuildKit and
				// buildah.
				if c.keepParents {
					if de, ok := dirEntryIn(dest, p); ok {
						entries = append(entries, de)
					}
				}
				have[p] = true
				continue
			}
		case fs.ModeSymlink:
		case 0:
			e.Size = fi.Size()
			if f.Digest != "" && fi.Size() != f.Size {
				return nil, fmt.Errorf("file %s changed since it was planned (size %d, planned %d): build again", src, fi.Size(), f.Size)
			}
			e.Open = verifiedOpener(src, f.Digest, fi.Size())
		default:
			return nil, fmt.Errorf("copying %s: unsupported file type %v", f.Src, f.Mode.Type())
		}
		if cm != nil && f.Mode.Type() != fs.ModeSymlink {
			e.Mode = cm.Apply(f.Mode)
		}
		have[p] = true
		if i, dup := at[p]; dup {
			// Several sources land here (the destination directory of two
			// copied directories): the last one wins, as in BuildKit.
			entries[i] = e
			continue
		}
		at[p] = len(entries)
		entries = append(entries, e)
	}
	return tb.withParents(c, dest, entries, have, uid, gid), nil
}

// destLanding returns a function that maps a copied file's destination to
// where it lands in the filesystem at root: below the copy's destination
// with base-image variables expanded (imageconfig.DestExpander) and,
// unless it is a --link copy, followed through symlinks, its last
// element's and dangling ones included, as BuildKit follows it
// (followInRoot). Symlinks below the destination are resolved where the
// entries are made: a copied file that lands on one replaces it, as in
// BuildKit.
func (tb *targetBuild) destLanding(c copyReq, root string) (func(string) string, error) {
	landing := imageconfig.DestExpander(tb.st.Config.Config.Env, c.dest)
	if c.link {
		return landing, nil
	}
	d := landing(path.Clean("/" + c.dest))
	at, err := followInRoot(root, d)
	if err != nil || at == d {
		return landing, err
	}
	return func(p string) string { return imageconfig.Rebase(landing(p), d, at) }, nil
}

// statSources returns the stat of each file to copy: infos when the
// files were listed just now (another target's), else the stat the plan
// took (ir.CopyFile.ModTime), else (a saved plan's files) a new one, on
// every core: one at a time, a copy of 50,000 files spent a quarter of a
// second here.
func statSources(root string, files []ir.CopyFile, infos []fs.FileInfo) ([]fs.FileInfo, []error) {
	errs := make([]error, len(files))
	if infos != nil {
		return infos, errs
	}
	infos = make([]fs.FileInfo, len(files))
	par.For(len(files), func(i int) {
		if !files[i].ModTime.IsZero() {
			infos[i] = plannedInfo{files[i]}
			return
		}
		infos[i], errs[i] = os.Lstat(filepath.Join(root, filepath.FromSlash(files[i].Src)))
	})
	return infos, errs
}

// intoDir reports whether f, a file that is a copy's whole destination
// (dest written without a trailing "/"), lands at p where the filesystem
// at root already has a directory.
func intoDir(root, dest string, f ir.CopyFile, p string) bool {
	return root != "" && !f.Mode.IsDir() && !strings.HasSuffix(dest, "/") &&
		path.Clean(f.Dst) == path.Clean(dest) && isDirIn(root, p)
}

// plannedInfo is a file as the plan stat'ed it.
type plannedInfo struct{ f ir.CopyFile }

func (p plannedInfo) Name() string       { return path.Base(p.f.Src) }
func (p plannedInfo) Size() int64        { return p.f.Size }
func (p plannedInfo) Mode() fs.FileMode  { return p.f.Mode }
func (p plannedInfo) ModTime() time.Time { return p.f.ModTime }
func (p plannedInfo) IsDir() bool        { return p.f.Mode.IsDir() }
func (p plannedInfo) Sys() any           { return nil }

// copySources returns the root a copy's files are read from and the files:
// the plan's, from the context, or those of the target it copies from,
// resolved now that the target is built, with their stats.
func (tb *targetBuild) copySources(ctx context.Context, c copyReq) (string, []ir.CopyFile, []fs.FileInfo, error) {
	if c.from == "" {
		if c.context == "" && len(c.files) > 0 {
			return "", nil, nil, errNoContext
		}
		return c.context, c.files, nil, nil
	}
	r := tb.b.result(c.from)
	if r == nil {
		return "", nil, nil, fmt.Errorf("copying from %s: it is not built", c.from)
	}
	root, err := tb.b.fs.root(ctx, c.from, r)
	if err != nil {
		return "", nil, nil, fmt.Errorf("mounting %s: %w", c.from, err)
	}
	files, infos, err := copyspec.ResolveInfo(root, c.sources, c.dest, copyspec.Options{Exclude: c.exclude, Parents: c.parents})
	if err != nil {
		return "", nil, nil, fmt.Errorf("copying from %s: %w", c.from, err)
	}
	return root, files, infos, nil
}

// withParents adds the parent directories of entries that dest lacks
// (all of them for a linked copy), owned as the files are, and with
// keepParents the existing ones with their metadata. have holds the paths
// entries already covers.
func (tb *targetBuild) withParents(c copyReq, dest string, entries []layer.Entry, have map[string]bool, uid, gid int) []layer.Entry {
	var parentsToMake []string
	for _, e := range entries {
		for d := path.Dir(e.Path); d != "/"; d = path.Dir(d) {
			if have[d] {
				continue
			}
			have[d] = true
			if c.link || !isDirIn(dest, d) {
				parentsToMake = append(parentsToMake, d)
			} else if c.keepParents {
				if de, ok := dirEntryIn(dest, d); ok {
					entries = append(entries, de)
				}
			}
		}
	}
	for _, d := range parentsToMake {
		entries = append(entries, layer.Entry{Path: d, Mode: fs.ModeDir | 0o755, UID: uid, GID: gid, ModTime: tb.b.now})
	}
	return entries
}

// fileAbove returns the first directory of p (a path in the image at root)
// that exists as something other than a directory, or "". Copying under it
// fails, as in BuildKit, instead of replacing the file with a directory.
func fileAbove(root, p string) string {
	if root == "" {
		return ""
	}
	var above []string
	for a := path.Dir(p); a != "/" && a != "."; a = path.Dir(a) {
		above = append(above, a)
	}
	for i := len(above) - 1; i >= 0; i-- {
		fi, err := os.Lstat(filepath.Join(root, above[i]))
		if err != nil {
			return ""
		}
		if !fi.IsDir() && fi.Mode()&fs.ModeSymlink == 0 {
			return above[i]
		}
	}
	return ""
}

// verifiedOpener opens a context file of the given size and fails as soon
// as that many bytes are read when its content no longer has the digest
// the plan keyed it with. (Layer writers read exactly size bytes and never
// wait for EOF, so the check cannot wait for it either.)
func verifiedOpener(path, digest string, size int64) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		f, err := openPlanned(path, size)
		if err != nil {
			return nil, err
		}
		if digest == "" {
			return f, nil
		}
		want, err := v1.NewHash(digest)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("file %s: %w", path, err)
		}
		return &verifyReader{f: f, hw: hashio.NewWriter(io.Discard), want: want, path: path, size: size}, nil
	}
}

// openPlanned opens a file to copy, which was a regular file of size
// bytes when it was listed (by the plan, whose stat the build takes), and
// fails as a changed file if it no longer is: it follows no symlink and
// does not wait on a FIFO that took its place.
func openPlanned(path string, size int64) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ELOOP):
		return nil, fmt.Errorf("file %s changed since it was planned (it is now a symlink): build again", path)
	case errors.Is(err, unix.ENOENT):
		return nil, fmt.Errorf("file %s changed since it was planned (it was removed): build again", path)
	case err != nil:
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, fmt.Errorf("file %s changed since it was planned (it is no longer a regular file): build again", path)
	}
	if st.Size != size {
		f.Close()
		return nil, fmt.Errorf("file %s changed since it was planned (size %d, planned %d): build again", path, st.Size, size)
	}
	return f, nil
}

type verifyReader struct {
	f          *os.File
	hw         *hashio.Writer
	want       v1.Hash
	path       string
	size, read int64
	checked    bool
	err        error
}

func (r *verifyReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	r.hw.Write(p[:n])
	r.read += int64(n)
	if !r.checked && (r.read >= r.size || err == io.EOF) {
		r.checked = true
		if got := r.hw.Sum(); got != r.want || r.read != r.size {
			r.err = fmt.Errorf("file %s changed since it was planned (content %s, planned %s): build again", r.path, got, r.want)
			return n, r.err
		}
	}
	return n, err
}

// Close also reports a changed file, for readers that stop at the size
// they expect and never see the error Read returned with the last bytes.
func (r *verifyReader) Close() error {
	if err := r.f.Close(); err != nil {
		return err
	}
	return r.err
}

// resolveOwner maps a chown "user[:group]" to ids in the filesystem at
// root. A numeric user without a group gets its id as group id, a user
// name its primary group, as BuildKit and buildah do.
func resolveOwner(root, chown string) (int, int, error) {
	if chown == "" {
		return 0, 0, nil
	}
	u, g, hasGroup := strings.Cut(chown, ":")
	// 32 bits, as Linux ids are: a larger number must not wrap to root.
	uid, uerr := strconv.ParseUint(u, 10, 32)
	gid, gerr := strconv.ParseUint(g, 10, 32)
	if uerr == nil && (!hasGroup || gerr == nil) {
		if !hasGroup {
			gid = uid
		}
		return int(uid), int(gid), nil
	}
	ruid, rgid, _, err := runc.ResolveUser(root, chown)
	if err != nil {
		return 0, 0, fmt.Errorf("resolving chown %q: %w", chown, err)
	}
	return int(ruid), int(rgid), nil
}
