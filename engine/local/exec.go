package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/imageconfig"
	"github.com/imgc-dev/imgc/engine/local/runc"
	"github.com/imgc-dev/imgc/internal/overlay"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
	"github.com/imgc-dev/imgc/store/layer"
)

// tailLines is how many lines of a failing step's output a engine.StepError keeps.
const tailLines = 20

// execute builds layer l, a cache miss, over the target's filesystem so
// far. On success the returned future owns lk and releases it once the
// layer's blob and cache entry are stored.
func (tb *targetBuild) execute(ctx context.Context, l *ir.Layer, lk *flock.Flock) (*future, error) {
	s := tb.b.s
	lowers, err := tb.snapshots(ctx)
	if err != nil {
		var se *engine.StepError
		if errors.As(err, &se) || ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("preparing the parent filesystem: %w", err)
	}
	// The tar streams into the store as it is written: hashed for its diff
	// ID, compressed and hashed again into a blob, nothing kept
	// uncompressed (store.LayerWriter).
	lw, err := s.NewLayerWriter(tb.b.o.Compression)
	if err != nil {
		return nil, err
	}
	handedOff := false
	defer func() {
		if !handedOff {
			lw.Abort()
		}
	}()
	opts := layer.Options{SourceDateEpoch: tb.b.o.SourceDateEpoch}
	var names []string
	if _, ok := engine.DeclaredWrites(l); ok {
		opts.Entry = func(name string) { names = append(names, name) }
	}
	work, err := s.TempDir("layer-")
	if err != nil {
		return nil, err
	}
	defer tb.b.removeLater(work)
	empty, upper, err := tb.writeLayer(ctx, l, lowers, work, lw, opts)
	if err != nil {
		return nil, err
	}
	diff, _, err := lw.DiffID()
	if err != nil {
		return nil, fmt.Errorf("writing layer: %w", err)
	}
	if err := checkWrites(l, names); err != nil {
		var se *engine.StepError
		if errors.As(err, &se) {
			se.Target = tb.t.Name
		}
		return nil, err
	}
	if empty {
		e := store.Entry{Digest: diff, DiffID: diff, Empty: true, ParentChain: tb.parentChain(), Created: tb.b.now}
		if err := s.PutKey(l.Key, e); err != nil {
			return nil, err
		}
		lk.Unlock()
		return resolvedFuture(e), nil
	}
	if upper != "" {
		// The upper dir already is this layer in overlay form: keep it as
		// the snapshot the next layers run over.
		if err := s.AdoptSnapshot(upper, diff); err != nil {
			return nil, err
		}
	}
	f := &future{done: make(chan struct{}), diff: diff}
	handedOff = true
	tb.finishFuture(f, l.Key, tb.parentChain(), lw, lk)
	return f, nil
}

// writeLayer makes layer l in the directory work (running its steps, or
// for a layer of copies only, listing its files) and writes it as a tar to
// w. upper is the layer's overlay upper dir in work when it has one.
func (tb *targetBuild) writeLayer(ctx context.Context, l *ir.Layer, lowers []string, work string, w io.Writer, opts layer.Options) (empty bool, upper string, err error) {
	switch {
	case len(l.Merged) > 1 && len(l.Merged) == len(l.Steps):
		upper = filepath.Join(work, "upper")
		if err := tb.squash(ctx, l, upper); err != nil {
			return false, "", err
		}
	case onlyCopies(l):
		entries, err := tb.copyLayerEntries(ctx, l, lowers)
		if err != nil {
			return false, "", err
		}
		if err := layer.WriteEntries(w, entries, opts); err != nil {
			return false, "", err
		}
		return len(entries) == 0, "", nil
	default:
		upper = filepath.Join(work, "upper")
		if err := tb.runSteps(ctx, l, lowers, work, upper); err != nil {
			return false, "", err
		}
	}
	opts.Lowers = lowers
	empty, err = layer.WriteUpperDir(w, upper, opts)
	if err != nil {
		return false, "", fmt.Errorf("writing layer: %w", err)
	}
	return empty, upper, nil
}

// squash builds a layer the optimizer merged from several: each step is
// built (or reused) as its own cache entry under its key in l.Merged, and
// their diffs are applied in order into upper, which is then the merged
// layer's diff in overlay form.
func (tb *targetBuild) squash(ctx context.Context, l *ir.Layer, upper string) error {
	sub := &targetBuild{b: tb.b, t: tb.t, st: tb.st, slot: tb.slot, layers: append([]*future(nil), tb.layers...),
		rebuild: tb.rebuild || tb.b.forced[l] != "" || tb.b.o.NoCache}
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
		if err := tb.b.imports.fetchChain(ctx, []store.Layer{f.cl}); err != nil {
			return err
		}
		rc, err := tb.b.s.OpenLayer(f.cl)
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
	root, tmp, err := mountLowers(tb.b.s, lowers)
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

// runSteps runs a layer's steps, each in a fresh overlay mount of lowers
// with upper as its writable dir, so that several steps compose in one
// upper dir and mount-point stubs can be removed between them. Each mount
// is volatile (see step) and gets its own work dir.
func (tb *targetBuild) runSteps(ctx context.Context, l *ir.Layer, lowers []string, work, upper string) error {
	rootfs := filepath.Join(work, "rootfs")
	for _, d := range []string{rootfs, upper} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	for i, st := range l.Steps {
		wk := filepath.Join(work, "work"+strconv.Itoa(i))
		if err := os.Mkdir(wk, 0o755); err != nil {
			return err
		}
		if err := tb.step(ctx, l, st, lowers, rootfs, upper, wk); err != nil {
			var se *engine.StepError
			if errors.As(err, &se) || ctx.Err() != nil {
				return err
			}
			return &engine.StepError{Target: tb.t.Name, Key: l.Key, Origins: ir.StepOrigins(st), Err: err}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// step runs one step in a mount of the layer's filesystem. The mount is
// volatile: unmounting it does not sync the store's filesystem, which the
// build does before its outputs (flushStore); a long step has it flushed
// once it ends (earlyFlush).
func (tb *targetBuild) step(ctx context.Context, l *ir.Layer, st ir.Step, lowers []string, rootfs, upper, wk string) (err error) {
	if err := tb.b.markUnsynced(); err != nil {
		return err
	}
	if err := overlay.MountVolatile(rootfs, lowers, upper, wk); err != nil {
		return fmt.Errorf("mounting the layer's filesystem: %w", err)
	}
	var stubs *runc.Stubs
	began := time.Now()
	defer func() {
		if uerr := overlay.Unmount(rootfs); uerr != nil && err == nil {
			err = fmt.Errorf("unmounting the layer's filesystem: %w", uerr)
		}
		tb.b.early.after(tb.b.s.Dir(), began, err == nil)
		if stubs != nil && err == nil {
			if rerr := stubs.Remove(upper); rerr != nil {
				err = rerr
			}
		}
	}()
	switch st := st.(type) {
	case *ir.Run:
		stubs, err = tb.run(ctx, l, st, rootfs, upper)
		return err
	case *ir.Copy:
		req := tb.copyRequest(st)
		req.link = false // over a mounted filesystem, parents come from below
		entries, err := tb.copyEntries(ctx, req, rootfs)
		if err != nil {
			return err
		}
		return layer.WriteEntriesToDir(rootfs, entries)
	case *ir.Add:
		return tb.add(ctx, st, rootfs)
	case *ir.Mkdir:
		return tb.mkdir(st, rootfs)
	}
	return fmt.Errorf("unknown step kind %q", st.Kind())
}

// run runs one command in the mounted rootfs. The stubs it returns (even
// on failure) are to be removed from upper once rootfs is unmounted.
func (tb *targetBuild) run(ctx context.Context, l *ir.Layer, r *ir.Run, rootfs, upper string) (*runc.Stubs, error) {
	env, user, cwd := imageconfig.RunContext(tb.st.Config.Config, r)
	if err := checkEmulation(tb.t.Platform); err != nil {
		return nil, &engine.StepError{Target: tb.t.Name, Key: l.Key, Origins: ir.StepOrigins(r), Err: err}
	}
	mounts, extraEnv, release, err := tb.runMounts(ctx, r)
	if err != nil {
		return nil, err
	}
	defer release()
	if r.Script != nil {
		m, done, err := scriptMount(r.Script)
		if err != nil {
			return nil, err
		}
		defer done()
		mounts = append(mounts, m)
	}
	net, err := tb.b.networkFor(ctx, r)
	if err != nil {
		return nil, &engine.StepError{Target: tb.t.Name, Key: l.Key, Origins: ir.StepOrigins(r), Err: err}
	}
	spec := runc.Spec{
		ID:      "imgc-" + randomID(),
		Rootfs:  rootfs,
		Args:    r.Argv,
		Env:     imageconfig.MergeEnv(tb.b.o.ProxyEnv, imageconfig.MergeEnv(env, extraEnv)),
		Cwd:     cwd,
		User:    user,
		Network: string(r.Network),
		Net:     net,
		Mounts:  mounts,

		Insecure: r.Security == ir.SecurityInsecure,
		Edit:     tb.b.devices.edit(r),
	}
	stubs, err := runc.FindStubs(rootfs, upper, spec)
	if err != nil {
		return nil, fmt.Errorf("finding mount points: %w", err)
	}
	out := &outputTail{emit: func(line string) {
		tb.b.emit(engine.Event{Kind: "log", Target: tb.t.Name, Layer: l.Name, Key: l.Key, Origin: r.Origin, Line: line})
	}}
	tb.b.warnRuntime()
	// The bundle holds the step's environment, secrets included: runc.Run
	// makes it in memory and removes it.
	code, runErr := runc.Run(ctx, "", spec, out, out)
	out.flush()
	if runErr != nil {
		if ctx.Err() != nil {
			return stubs, ctx.Err()
		}
		return stubs, &engine.StepError{Target: tb.t.Name, Key: l.Key, Origins: ir.StepOrigins(r), Tail: out.tail(), Err: runErr}
	}
	if code != 0 {
		return stubs, &engine.StepError{Target: tb.t.Name, Key: l.Key, Origins: ir.StepOrigins(r), ExitCode: code, Tail: out.tail(),
			Err: fmt.Errorf("command exited with status %d", code)}
	}
	return stubs, nil
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
