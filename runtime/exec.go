package runtime

import (
	"archive/tar"
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
	"sync"
	"time"

	"github.com/gofrs/flock"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/compiler/ir"
	"github.com/imgc-dev/imgc/internal/copyspec"
	"github.com/imgc-dev/imgc/runtime/layer"
	"github.com/imgc-dev/imgc/runtime/overlay"
	"github.com/imgc-dev/imgc/runtime/runc"
)

// tailLines is how many lines of a failing step's output a StepError keeps.
const tailLines = 20

// execute builds layer l, a cache miss, over the target's filesystem so
// far. On success the returned future owns lk and releases it once the
// layer's blob and cache entry are stored.
func (tb *targetBuild) execute(ctx context.Context, l *ir.Layer, lk *flock.Flock) (*future, error) {
	s := tb.b.s
	lowers, err := tb.snapshots(ctx)
	if err != nil {
		var se *StepError
		if errors.As(err, &se) || ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("preparing the parent filesystem: %w", err)
	}
	tarFile, err := os.CreateTemp(s.path("tmp"), "layer-*.tar")
	if err != nil {
		return nil, err
	}
	tarPath := tarFile.Name()
	keep := false
	defer func() {
		if !keep {
			os.Remove(tarPath)
		}
	}()
	hw := newHashWriter(tarFile)
	opts := layer.Options{SourceDateEpoch: tb.b.o.SourceDateEpoch}
	var empty bool
	var upper string
	work, err := s.tempDir("layer-")
	if err != nil {
		tarFile.Close()
		return nil, err
	}
	defer os.RemoveAll(work)

	if len(l.Merged) > 1 && len(l.Merged) == len(l.Steps) {
		upper = filepath.Join(work, "upper")
		if err := tb.squash(ctx, l, upper); err != nil {
			tarFile.Close()
			return nil, err
		}
		opts.Lowers = lowers
		empty, err = layer.WriteUpperDir(hw, upper, opts)
		if err != nil {
			tarFile.Close()
			return nil, fmt.Errorf("writing layer: %w", err)
		}
	} else if onlyCopies(l) {
		entries, err := tb.copyLayerEntries(ctx, l, lowers)
		if err != nil {
			tarFile.Close()
			return nil, err
		}
		empty = len(entries) == 0
		if err := layer.WriteEntries(hw, entries, opts); err != nil {
			tarFile.Close()
			return nil, err
		}
	} else {
		upper = filepath.Join(work, "upper")
		if err := tb.runSteps(ctx, l, lowers, work, upper); err != nil {
			tarFile.Close()
			return nil, err
		}
		opts.Lowers = lowers
		empty, err = layer.WriteUpperDir(hw, upper, opts)
		if err != nil {
			tarFile.Close()
			return nil, fmt.Errorf("writing layer: %w", err)
		}
	}
	if err := tarFile.Close(); err != nil {
		return nil, err
	}
	if err := checkWrites(l, tarPath); err != nil {
		var se *StepError
		if errors.As(err, &se) {
			se.Target = tb.t.Name
		}
		return nil, err
	}
	diff := hw.Sum()
	if empty {
		e := keyEntry{Digest: diff, DiffID: diff, Empty: true}
		if err := s.putKey(l.Key, e); err != nil {
			return nil, err
		}
		lk.Unlock()
		return resolvedFuture(e), nil
	}
	if upper != "" {
		// The upper dir already is this layer in overlay form: keep it as
		// the snapshot the next layers run over.
		snap := s.snapshotDir(diff)
		if !exists(snap) {
			if err := os.Rename(upper, snap); err != nil && !exists(snap) {
				return nil, fmt.Errorf("keeping snapshot: %w", err)
			}
		}
	}
	f := &future{done: make(chan struct{}), diff: diff}
	keep = true
	tb.finishFuture(f, l.Key, tarPath, lk)
	return f, nil
}

// squash builds a layer the optimizer merged from several: each step is
// built (or reused) as its own cache entry under its key in l.Merged, and
// their diffs are applied in order into upper, which is then the merged
// layer's diff in overlay form.
func (tb *targetBuild) squash(ctx context.Context, l *ir.Layer, upper string) error {
	sub := &targetBuild{b: tb.b, t: tb.t, st: tb.st, layers: append([]*future(nil), tb.layers...)}
	first := len(sub.layers)
	parent := l.Parent
	for i, st := range l.Steps {
		sl := &ir.Layer{
			Name:      fmt.Sprintf("%s (step %d of %d)", l.Name, i+1, len(l.Steps)),
			Key:       l.Merged[i],
			Parent:    parent,
			Steps:     []ir.Step{st},
			NoCache:   l.NoCache,
			CreatedBy: l.CreatedBy,
			Origin:    st.Source(),
		}
		if err := sub.layer(ctx, sl); err != nil {
			return err
		}
		parent = sl.Key
	}
	if err := os.Mkdir(upper, 0o755); err != nil {
		return err
	}
	for _, f := range sub.layers[first:] {
		if err := f.wait(); err != nil {
			return err
		}
		if f.empty {
			continue
		}
		rc, err := tb.b.s.uncompressed(f.cl.Digest, f.cl.MediaType)
		if err != nil {
			return fmt.Errorf("reading step layer %s: %w", f.cl.Digest, err)
		}
		err = layer.Apply(rc, upper, layer.ApplyOptions{AllowDevices: true})
		rc.Close()
		if err != nil {
			return fmt.Errorf("merging step layer %s: %w", f.cl.Digest, err)
		}
	}
	return tb.dropIdleWhiteouts(ctx, upper)
}

// dropIdleWhiteouts removes whiteouts of upper that hide nothing of the
// target's filesystem: files one merged step made and a later one deleted.
func (tb *targetBuild) dropIdleWhiteouts(ctx context.Context, upper string) error {
	lowers, err := tb.snapshots(ctx)
	if err != nil {
		return err
	}
	root, tmp, err := tb.b.s.mountLowers(lowers)
	if err != nil {
		return err
	}
	if tmp != "" {
		defer func() {
			overlay.Unmount(root)
			os.RemoveAll(tmp)
		}()
	}
	return filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeCharDevice == 0 {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil || st.Rdev != 0 {
			return err
		}
		rel, err := filepath.Rel(upper, p)
		if err != nil {
			return err
		}
		fd, err := openInRoot(root, rel, unix.O_PATH|unix.O_NOFOLLOW)
		if err == nil {
			unix.Close(fd)
			return nil
		}
		return os.Remove(p)
	})
}

func onlyCopies(l *ir.Layer) bool {
	for _, st := range l.Steps {
		if _, ok := st.(*ir.Copy); !ok {
			return false
		}
	}
	return true
}

// copyLayerEntries lists the entries of a layer made only of copy steps,
// against the parent filesystem mounted read-only.
func (tb *targetBuild) copyLayerEntries(ctx context.Context, l *ir.Layer, lowers []string) ([]layer.Entry, error) {
	root, tmp, err := tb.b.s.mountLowers(lowers)
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
		req := copyRequest(c)
		req.keepParents = true
		entries, err := tb.copyEntries(ctx, req, root)
		if err != nil {
			return nil, &StepError{Target: tb.t.Name, Key: l.Key, Origins: []ir.Origin{c.Origin}, Err: err}
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
}

func copyRequest(c *ir.Copy) copyReq {
	return copyReq{from: c.FromTarget, context: c.Context, sources: c.Sources, dest: c.Dest, exclude: c.Exclude,
		parents: c.Parents, link: c.Link, files: c.Files, chown: c.Chown, chmod: c.Chmod}
}

// copyEntries resolves one copy's files into layer entries, with the
// parent directories that dest (the filesystem the files land in) lacks.
func (tb *targetBuild) copyEntries(ctx context.Context, c copyReq, dest string) ([]layer.Entry, error) {
	from, files, chown, chmod := c.from, c.files, c.chown, c.chmod
	srcRoot := c.context
	if from != "" {
		r := tb.b.result(from)
		if r == nil {
			return nil, fmt.Errorf("copying from %s: it is not built", from)
		}
		root, err := tb.b.fs.root(ctx, from, r)
		if err != nil {
			return nil, fmt.Errorf("mounting %s: %w", from, err)
		}
		srcRoot = root
		files, err = copyspec.Resolve(root, c.sources, c.dest, copyspec.Options{Exclude: c.exclude, Parents: c.parents})
		if err != nil {
			return nil, fmt.Errorf("copying from %s: %w", from, err)
		}
	} else if srcRoot == "" && len(files) > 0 {
		return nil, errNoContext
	}
	uid, gid, err := resolveOwner(dest, chown)
	if err != nil {
		return nil, err
	}
	var perm *fs.FileMode
	if chmod != "" {
		n, err := strconv.ParseUint(chmod, 8, 32)
		if err != nil || n > 0o7777 {
			return nil, fmt.Errorf("chmod %q: want an octal mode such as 0755", chmod)
		}
		p := fs.FileMode(n).Perm() | modeFromUnix(uint32(n))
		perm = &p
	}
	var entries []layer.Entry
	have := map[string]bool{}
	resolved := &inRoot{root: dest, memo: map[string]string{}}
	for _, f := range files {
		p := path.Clean(f.Dst)
		if p == "/" {
			continue
		}
		// Symlinks in the destination are followed inside the image, as
		// Docker does (COPY x /lib/ with /lib -> usr/lib writes usr/lib/x).
		if !c.link {
			p = resolved.path(p, f.Mode.IsDir())
		}
		src := filepath.Join(srcRoot, filepath.FromSlash(f.Src))
		fi, err := os.Lstat(src)
		if err != nil {
			return nil, fmt.Errorf("copying %s: %w", f.Src, err)
		}
		e := layer.Entry{Path: p, Mode: f.Mode, UID: uid, GID: gid, ModTime: fi.ModTime(), Linkname: f.LinkTarget}
		switch f.Mode.Type() {
		case fs.ModeDir:
			if chown == "" && perm == nil && !c.link && isDirIn(dest, p) {
				// An existing directory keeps its metadata.
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
			e.Open = verifiedOpener(src, f.Digest)
		default:
			return nil, fmt.Errorf("copying %s: unsupported file type %v", f.Src, f.Mode.Type())
		}
		if perm != nil && f.Mode.Type() != fs.ModeSymlink {
			e.Mode = f.Mode.Type() | *perm
		}
		have[p] = true
		entries = append(entries, e)
	}
	// Parents the destination lacks are created, owned as the files are.
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
	return entries, nil
}

func modeFromUnix(m uint32) fs.FileMode {
	var b fs.FileMode
	if m&unix.S_ISUID != 0 {
		b |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		b |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		b |= fs.ModeSticky
	}
	return b
}

// verifiedOpener opens a context file and fails at its end when its
// content no longer has the digest the plan keyed it with.
func verifiedOpener(path, digest string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		f, err := os.Open(path)
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
		return &verifyReader{f: f, hw: newHashWriter(io.Discard), want: want, path: path}, nil
	}
}

type verifyReader struct {
	f    *os.File
	hw   *hashWriter
	want v1.Hash
	path string
}

func (r *verifyReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	r.hw.Write(p[:n])
	if err == io.EOF {
		if got := r.hw.Sum(); got != r.want {
			return n, fmt.Errorf("file %s changed since it was planned (content %s, planned %s): build again", r.path, got, r.want)
		}
	}
	return n, err
}

func (r *verifyReader) Close() error { return r.f.Close() }

// resolveOwner maps a chown "user[:group]" to ids in the filesystem at
// root. A user without a group gets the user's id as group id, as in
// Docker.
func resolveOwner(root, chown string) (int, int, error) {
	if chown == "" {
		return 0, 0, nil
	}
	u, g, hasGroup := strings.Cut(chown, ":")
	uid, uerr := strconv.Atoi(u)
	gid, gerr := strconv.Atoi(g)
	if uerr == nil && uid >= 0 && (!hasGroup || (gerr == nil && gid >= 0)) {
		if !hasGroup {
			gid = uid
		}
		return uid, gid, nil
	}
	ruid, rgid, _, err := runc.ResolveUser(root, chown)
	if err != nil {
		return 0, 0, fmt.Errorf("resolving chown %q: %w", chown, err)
	}
	if !hasGroup {
		rgid = ruid
	}
	return int(ruid), int(rgid), nil
}

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
	mode := fs.ModeDir | fs.FileMode(st.Mode&0o777) | modeFromUnix(st.Mode)
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

// runSteps runs a layer's steps, each in a fresh overlay mount of lowers
// with upper as its writable dir, so that several steps compose in one
// upper dir and mount-point stubs can be removed between them.
func (tb *targetBuild) runSteps(ctx context.Context, l *ir.Layer, lowers []string, work, upper string) error {
	rootfs := filepath.Join(work, "rootfs")
	wk := filepath.Join(work, "work")
	for _, d := range []string{rootfs, wk, upper} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	for _, st := range l.Steps {
		if err := tb.step(ctx, l, st, lowers, rootfs, upper, wk, work); err != nil {
			var se *StepError
			if errors.As(err, &se) || ctx.Err() != nil {
				return err
			}
			return &StepError{Target: tb.t.Name, Key: l.Key, Origins: []ir.Origin{st.Source()}, Err: err}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// step runs one step in a mount of the layer's filesystem.
func (tb *targetBuild) step(ctx context.Context, l *ir.Layer, st ir.Step, lowers []string, rootfs, upper, wk, work string) (err error) {
	if err := overlay.Mount(rootfs, lowers, upper, wk); err != nil {
		return fmt.Errorf("mounting the layer's filesystem: %w", err)
	}
	var stubs *runc.Stubs
	defer func() {
		if uerr := overlay.Unmount(rootfs); uerr != nil && err == nil {
			err = fmt.Errorf("unmounting the layer's filesystem: %w", uerr)
		}
		if stubs != nil && err == nil {
			if rerr := stubs.Remove(upper); rerr != nil {
				err = rerr
			}
		}
	}()
	switch st := st.(type) {
	case *ir.Run:
		stubs, err = tb.run(ctx, l, st, rootfs, upper, work)
		return err
	case *ir.Copy:
		req := copyRequest(st)
		req.link = false // over a mounted filesystem, parents come from below
		entries, err := tb.copyEntries(ctx, req, rootfs)
		if err != nil {
			return err
		}
		return layer.WriteEntriesToDir(rootfs, entries)
	case *ir.Add:
		return tb.add(ctx, st, rootfs)
	}
	return fmt.Errorf("unknown step kind %q", st.Kind())
}

// run runs one command in the mounted rootfs. The stubs it returns (even
// on failure) are to be removed from upper once rootfs is unmounted.
func (tb *targetBuild) run(ctx context.Context, l *ir.Layer, r *ir.Run, rootfs, upper, work string) (*runc.Stubs, error) {
	cfg := tb.st.Config.Config
	env := mergeEnv(cfg.Env, r.Env)
	user := r.User
	if user == "" {
		user = cfg.User
	}
	cwd := r.Workdir
	if cwd == "" {
		cwd = cfg.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	mounts, extraEnv, release, err := tb.runMounts(ctx, r)
	if err != nil {
		return nil, err
	}
	defer release()
	spec := runc.Spec{
		ID:      "imgc-" + randomID(),
		Rootfs:  rootfs,
		Args:    r.Argv,
		Env:     mergeEnv(env, extraEnv),
		Cwd:     cwd,
		User:    user,
		Network: string(r.Network),
		Mounts:  mounts,
	}
	stubs, err := runc.FindStubs(rootfs, upper, spec)
	if err != nil {
		return nil, fmt.Errorf("finding mount points: %w", err)
	}
	bundle, err := os.MkdirTemp(work, "bundle-")
	if err != nil {
		return stubs, err
	}
	out := &outputTail{emit: func(line string) {
		tb.b.emit(Event{Kind: "log", Target: tb.t.Name, Layer: l.Name, Key: l.Key, Origin: r.Origin, Line: line})
	}}
	code, runErr := runc.Run(ctx, bundle, spec, out, out)
	out.flush()
	if runErr != nil {
		if ctx.Err() != nil {
			return stubs, ctx.Err()
		}
		return stubs, &StepError{Target: tb.t.Name, Key: l.Key, Origins: []ir.Origin{r.Origin}, Tail: out.tail(), Err: runErr}
	}
	if code != 0 {
		return stubs, &StepError{Target: tb.t.Name, Key: l.Key, Origins: []ir.Origin{r.Origin}, ExitCode: code, Tail: out.tail(),
			Err: fmt.Errorf("command exited with status %d", code)}
	}
	return stubs, nil
}

// runMounts prepares a run step's mounts. release unlocks cache mounts and
// removes private copies.
func (tb *targetBuild) runMounts(ctx context.Context, r *ir.Run) (mounts []specs.Mount, env []string, release func(), err error) {
	s := tb.b.s
	var cleanups []func()
	release = func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	for _, m := range r.Mounts {
		target := path.Clean("/" + m.Target)
		switch m.Type {
		case ir.MountCache:
			dir, done, err := s.cacheMount(ctx, m)
			if err != nil {
				return nil, nil, release, err
			}
			cleanups = append(cleanups, done)
			opts := []string{"rbind", "rw"}
			if m.ReadOnly {
				opts = []string{"rbind", "ro"}
			}
			mounts = append(mounts, specs.Mount{Destination: target, Type: "bind", Source: dir, Options: opts})
		case ir.MountSecret:
			src, ok := tb.b.o.Secrets[m.ID]
			if !ok {
				if m.Required {
					return nil, nil, release, fmt.Errorf("secret %q is required but not given (pass --secret id=%s,src=FILE)", m.ID, m.ID)
				}
				continue
			}
			if m.Env != "" {
				data, err := os.ReadFile(src)
				if err != nil {
					return nil, nil, release, fmt.Errorf("reading secret %q: %w", m.ID, err)
				}
				env = append(env, m.Env+"="+string(data))
				if m.Target == "" {
					continue
				}
			}
			if _, err := os.Stat(src); err != nil {
				return nil, nil, release, fmt.Errorf("reading secret %q: %w", m.ID, err)
			}
			if m.Mode != nil || m.UID != nil || m.GID != nil {
				copied, done, err := secretCopy(src, m)
				if err != nil {
					return nil, nil, release, fmt.Errorf("reading secret %q: %w", m.ID, err)
				}
				cleanups = append(cleanups, done)
				src = copied
			}
			if m.Target == "" {
				target = "/run/secrets/" + m.ID
			}
			mounts = append(mounts, specs.Mount{Destination: target, Type: "bind", Source: src, Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"}})
		case ir.MountBind:
			root := tb.b.o.Context
			if m.FromTarget != "" {
				res := tb.b.result(m.FromTarget)
				if res == nil {
					return nil, nil, release, fmt.Errorf("bind mount from %s: it is not built", m.FromTarget)
				}
				root, err = tb.b.fs.root(ctx, m.FromTarget, res)
				if err != nil {
					return nil, nil, release, fmt.Errorf("mounting %s: %w", m.FromTarget, err)
				}
			} else if root == "" {
				return nil, nil, release, fmt.Errorf("bind mount of %q: %w", m.Source, errNoContext)
			}
			src, err := resolveInRoot(root, m.Source)
			if err != nil {
				return nil, nil, release, fmt.Errorf("bind mount of %q: %w", m.Source, err)
			}
			mounts = append(mounts, specs.Mount{Destination: target, Type: "bind", Source: src, Options: []string{"rbind", "ro"}})
		case ir.MountTmpfs:
			opts := []string{"nosuid", "nodev", "mode=1777"}
			if m.Size > 0 {
				opts = append(opts, "size="+strconv.FormatInt(m.Size, 10))
			}
			mounts = append(mounts, specs.Mount{Destination: target, Type: "tmpfs", Source: "tmpfs", Options: opts})
		default:
			return nil, nil, release, fmt.Errorf("unknown mount type %q", m.Type)
		}
	}
	return mounts, env, release, nil
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

// cacheMount returns the persistent directory of a cache mount, locked as
// its sharing mode asks.
func (s *Store) cacheMount(ctx context.Context, m ir.Mount) (string, func(), error) {
	id := m.ID
	if id == "" {
		id = m.Target
	}
	name := strings.NewReplacer("/", "_", "\\", "_", ":", "_").Replace(id)
	name = strings.TrimLeft(name, ".")
	if name == "" {
		name = "_"
	}
	dir := s.path("mounts", "cache", name)
	if !exists(dir) {
		tmp, err := s.tempDir("cache-")
		if err != nil {
			return "", nil, err
		}
		if err := setupMountDir(tmp, m); err != nil {
			os.RemoveAll(tmp)
			return "", nil, err
		}
		if err := os.Rename(tmp, dir); err != nil {
			os.RemoveAll(tmp)
			if !exists(dir) {
				return "", nil, fmt.Errorf("making cache mount %q: %w", id, err)
			}
		}
	}
	lk := flock.New(dir + ".lock")
	switch m.Sharing {
	case "locked":
		if ok, err := lk.TryLockContext(ctx, 20*time.Millisecond); !ok {
			return "", nil, fmt.Errorf("locking cache mount %q: %w", id, errors.Join(err, ctx.Err()))
		}
	case "private":
		ok, err := lk.TryLock()
		if err != nil {
			return "", nil, fmt.Errorf("locking cache mount %q: %w", id, err)
		}
		if !ok {
			// In use: this step gets a fresh private directory.
			tmp, err := s.tempDir("cache-private-")
			if err != nil {
				return "", nil, err
			}
			if err := setupMountDir(tmp, m); err != nil {
				os.RemoveAll(tmp)
				return "", nil, err
			}
			return tmp, func() { os.RemoveAll(tmp) }, nil
		}
	default:
		if ok, err := lk.TryRLockContext(ctx, 20*time.Millisecond); !ok {
			return "", nil, fmt.Errorf("locking cache mount %q: %w", id, errors.Join(err, ctx.Err()))
		}
	}
	return dir, func() { lk.Unlock() }, nil
}

// secretCopy copies a secret that must get its own mode or owner into a
// private directory in memory (/dev/shm when there is one), never into the
// cache directory. done removes it.
func secretCopy(src string, m ir.Mount) (string, func(), error) {
	base := "/dev/shm"
	if fi, err := os.Stat(base); err != nil || !fi.IsDir() {
		base = os.TempDir()
	}
	dir, err := os.MkdirTemp(base, "imgc-secret-")
	if err != nil {
		return "", nil, err
	}
	done := func() { os.RemoveAll(dir) }
	data, err := os.ReadFile(src)
	if err != nil {
		done()
		return "", nil, err
	}
	mode := uint32(0o400)
	if m.Mode != nil {
		mode = *m.Mode
	}
	p := filepath.Join(dir, "secret")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		done()
		return "", nil, err
	}
	uid, gid := 0, 0
	if m.UID != nil {
		uid = *m.UID
	}
	if m.GID != nil {
		gid = *m.GID
	}
	if err := os.Chown(p, uid, gid); err != nil {
		done()
		return "", nil, err
	}
	if err := os.Chmod(p, fs.FileMode(mode).Perm()); err != nil {
		done()
		return "", nil, err
	}
	return p, done, nil
}

func setupMountDir(dir string, m ir.Mount) error {
	mode := uint32(0o755)
	if m.Mode != nil {
		mode = *m.Mode
	}
	if err := os.Chmod(dir, fs.FileMode(mode).Perm()|modeFromUnix(mode)); err != nil {
		return err
	}
	uid, gid := 0, 0
	if m.UID != nil {
		uid = *m.UID
	}
	if m.GID != nil {
		gid = *m.GID
	}
	return os.Chown(dir, uid, gid)
}

// outputTail turns a step's output into log events and keeps its last
// lines.
type outputTail struct {
	mu    sync.Mutex
	emit  func(string)
	buf   []byte
	lines []string
}

func (o *outputTail) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf = append(o.buf, p...)
	for {
		i := strings.IndexByte(string(o.buf), '\n')
		if i < 0 {
			break
		}
		o.line(string(o.buf[:i]))
		o.buf = o.buf[i+1:]
	}
	if len(o.buf) > 64<<10 { // a very long line without newline
		o.line(string(o.buf))
		o.buf = nil
	}
	return len(p), nil
}

func (o *outputTail) line(s string) {
	s = strings.TrimSuffix(s, "\r")
	o.lines = append(o.lines, s)
	if len(o.lines) > tailLines {
		o.lines = o.lines[len(o.lines)-tailLines:]
	}
	o.emit(s)
}

func (o *outputTail) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.buf) > 0 {
		o.line(string(o.buf))
		o.buf = nil
	}
}

func (o *outputTail) tail() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.lines...)
}

// declaredWrites is what a layer of run steps declares it writes. ok is
// false when there is nothing to check: a step declares nothing, or the
// layer also copies (its files are what the plan lists anyway).
func declaredWrites(l *ir.Layer) (writes []string, ok bool) {
	for _, st := range l.Steps {
		r, isRun := st.(*ir.Run)
		if !isRun || len(r.Writes) == 0 {
			return nil, false
		}
		writes = append(writes, r.Writes...)
	}
	return writes, len(writes) > 0
}

// checkWrites fails when the layer tar at tarPath changes a path outside
// what the layer's steps declared: the optimizer reorders steps trusting
// `writes`, so a step that lies must fail loudly. Directories above a
// declared path may appear (writing below them copies them up).
func checkWrites(l *ir.Layer, tarPath string) error {
	writes, ok := declaredWrites(l)
	if !ok {
		return nil
	}
	f, err := os.Open(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var undeclared []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the layer: %w", err)
		}
		p := path.Clean("/" + h.Name)
		dir, base := path.Split(p)
		if base == ".wh..wh..opq" {
			p = path.Clean(dir)
		} else if name, ok := strings.CutPrefix(base, ".wh."); ok {
			p = path.Join(dir, name)
		}
		if !declared(p, writes) {
			undeclared = append(undeclared, p)
		}
	}
	if len(undeclared) == 0 {
		return nil
	}
	if len(undeclared) > 5 {
		undeclared = append(undeclared[:5], fmt.Sprintf("and %d more", len(undeclared)-5))
	}
	return &StepError{Origins: []ir.Origin{l.Origin}, Key: l.Key,
		Err: fmt.Errorf("the layer changes %s, which its steps' writes %q do not cover: declare every path the step writes", strings.Join(undeclared, ", "), writes)}
}

// declared reports whether p is a declared write path, below one, or a
// directory above one. Relative writes are taken from the root.
func declared(p string, writes []string) bool {
	for _, w := range writes {
		w = path.Clean("/" + w)
		if p == w || strings.HasPrefix(p, w+"/") || w == "/" || strings.HasPrefix(w, p+"/") {
			return true
		}
	}
	return false
}
