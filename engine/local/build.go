package local

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/imageconfig"
	"github.com/imgc-dev/imgc/engine/local/runc"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// Engine builds plans on this machine: run steps with runc over
// overlayfs, layers, images and the cache in a store.
type Engine struct {
	s *store.Store
}

var _ engine.Engine = (*Engine)(nil)

// New returns an engine that builds in, and caches in, the store s.
func New(s *store.Store) *Engine { return &Engine{s: s} }

// targetResult is a built target: its final filesystem and config.
type targetResult struct {
	state  *store.ImageState
	desc   v1.Descriptor // the manifest
	digest string
}

type builder struct {
	s    *store.Store
	p    *ir.Plan
	o    engine.BuildOptions
	now  time.Time
	pmu  sync.Mutex
	rmu  sync.Mutex
	res  map[string]*targetResult
	pins map[string]string
	fs   *fsCache
	// forced holds the layers that run whatever the cache holds, and why
	// (see ir.Plan.ForcedLayers).
	forced map[*ir.Layer]string
	// projectDir is what history comments name source files relative to.
	projectDir string
	// needed are the targets the build makes (see neededTargets); done[t]
	// is closed when t is built, has failed, or is not needed.
	needed map[string]bool
	// why says why each layer that runs does (startWhy).
	why  *whyRuns
	done map[string]chan struct{}
	// sem holds one token per target doing work (see slot).
	sem chan struct{}
	// net is the private network of default-network steps (network.go).
	net buildNetwork
	// unsynced is the store's marker (store.MarkUnsynced), left before the
	// first step runs over a volatile overlay and removed when the build
	// ends, the store's filesystem synced (flushStore, syncStore).
	unsynced     atomic.Pointer[store.Unsynced]
	unsyncedOnce sync.Once
	unsyncedErr  error
	// flushedAt is the store's BlobWrites when flushStore flushed it
	// before the outputs, or -1.
	flushedAt int64
	// early writes long steps' files back while the build goes on.
	early earlyFlush
	// removals are the work directories being removed (removeLater).
	removals sync.WaitGroup
	// untagged leaves output images unnamed in the store (a
	// multi-platform build names their index); label, when set, is the
	// platform events name after the target.
	untagged bool
	label    string
	// imports are the caches of --cache-from (nil without); images are
	// the targets whose layers go into an output image (imageTargets).
	imports *sharedCache
	images  map[string]bool
	// devices are the run steps' CDI devices (devices.go).
	devices *stepDevices
	// runtimeWarned is done once the runtime's warnings were given.
	runtimeWarned sync.Once
}

func (b *builder) emit(e engine.Event) {
	if b.label != "" && e.Target != "" {
		e.Target += " " + b.label
	}
	b.emitUnlabelled(e)
}

// emitUnlabelled is emit without the platform label: for what concerns
// every platform's image (a pushed index).
func (b *builder) emitUnlabelled(e engine.Event) {
	if b.o.Progress == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	b.pmu.Lock()
	defer b.pmu.Unlock()
	b.o.Progress(e)
}

func (b *builder) result(name string) *targetResult {
	b.rmu.Lock()
	defer b.rmu.Unlock()
	return b.res[name]
}

// Build builds every needed target of p, each as soon as its base is
// available and each layer reading another target once that target is
// built, stores the output targets by their tags, writes the requested
// outputs and records the build for Explain.
func (e *Engine) Build(ctx context.Context, p *ir.Plan, o engine.BuildOptions) (res *engine.Result, err error) {
	o, err = engine.Prepare(p, o)
	if err != nil {
		return nil, err
	}
	if err := checkCacheTypes(o); err != nil {
		return nil, err
	}
	devs, err := resolveDevices(p, o)
	if err != nil {
		return nil, err
	}
	unlock, err := e.lockForBuild(o)
	if err != nil {
		return nil, err
	}
	defer unlock()
	b := e.newBuilder(ctx, p, o)
	b.devices = devs
	defer func() {
		if serr := syncStore(e.s, b); serr != nil && err == nil {
			res, err = nil, serr
		}
	}()
	defer b.fs.release()
	defer b.net.close()
	if err := b.start(); err != nil {
		return nil, err
	}
	if err := b.buildAll(ctx); err != nil {
		return nil, err
	}
	res, err = b.export(ctx)
	if err != nil {
		return nil, err
	}
	if err := exportCaches(ctx, []*builder{b}); err != nil {
		return nil, err
	}
	return res, nil
}

// newBuilder prepares the build of p (o prepared); the caller releases
// b.fs and closes b.net.
func (e *Engine) newBuilder(ctx context.Context, p *ir.Plan, o engine.BuildOptions) *builder {
	b := &builder{s: e.s, p: p, o: o, flushedAt: -1, now: time.Now().UTC(), res: map[string]*targetResult{}, pins: map[string]string{},
		forced: p.ForcedLayers(), projectDir: imageconfig.ProjectDir(p.Project)}
	if o.SourceDateEpoch != nil {
		b.now = o.SourceDateEpoch.UTC()
	}
	b.images = imageTargets(p)
	b.imports = openSharedCache(ctx, e.s, o.CacheFrom, mountRegistry(p, o), b.emit)
	b.fs = &fsCache{s: e.s, mounts: map[string]*fsMount{}, fetch: b.imports.fetchChain}
	return b
}

// buildAll builds the needed targets. An imported entry reused without
// downloading may fail its checks once a later step needs its content:
// the build then starts again without it (what it built meanwhile is
// cached). Each attempt that stops so has refused one more entry, of
// finitely many, which the next attempt does not use.
func (b *builder) buildAll(ctx context.Context) error {
	for {
		before := b.imports.refusedCount()
		err := b.buildTargets(ctx)
		var refused *cacheRefusedError
		if err != nil && errors.As(err, &refused) && b.imports.refusedCount() > before && ctx.Err() == nil {
			b.fs.release()
			b.res = map[string]*targetResult{}
			continue
		}
		return err
	}
}

// start reports the devices' warnings and clears what killed builds left
// behind. The runtime's warnings wait for the first step that runs (see
// warnRuntime).
func (b *builder) start() error {
	if b.devices != nil {
		for _, w := range b.devices.warnings {
			b.emit(engine.Event{Kind: "warning", Line: w})
		}
	}
	for _, w := range ignoredCacheAttrs(b.o) {
		b.emit(engine.Event{Kind: "warning", Line: w})
	}
	// Bundles a killed build left behind may hold secrets.
	return runc.ClearStaleBundles()
}

// warnRuntime reports the runtime's warnings (an old runc, a bundle
// directory that is not in memory) before the build's first container:
// asking runc its version is a process of its own, 4-5 ms that a build
// running no step (warm, touch, an imported cache) does not spend.
func (b *builder) warnRuntime() {
	b.runtimeWarned.Do(func() {
		for _, w := range runc.Warnings() {
			b.emit(engine.Event{Kind: "warning", Line: w})
		}
	})
}

// buildTargets builds the needed targets, each in its own goroutine, and
// returns the first failure.
func (b *builder) buildTargets(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer b.imports.wait() // after cancel
	defer cancel()
	b.needed = neededTargets(b.s, b.imports, b.p, b.forced, b.o.NoCache)
	b.startWhy()
	steps := 0
	for _, t := range b.p.Targets {
		if b.needed[t.Name] {
			steps += len(t.Layers)
		}
	}
	b.emit(engine.Event{Kind: "plan", Steps: steps})
	b.done = map[string]chan struct{}{}
	for _, t := range b.p.Targets {
		b.done[t.Name] = make(chan struct{})
	}
	if b.sem == nil {
		b.sem = make(chan struct{}, b.o.Parallelism)
	}
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
		cancel()
	}
	for _, t := range b.p.Targets {
		if !b.needed[t.Name] {
			close(b.done[t.Name])
			continue
		}
		wg.Add(1)
		go func(t *ir.Target) {
			defer wg.Done()
			defer close(b.done[t.Name])
			b.runTarget(ctx, t, fail)
		}(t)
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("building: %w", err)
	}
	return nil
}

// runTarget waits for what t starts on, takes a slot, builds t and
// records its result, or reports its failure to fail.
func (b *builder) runTarget(ctx context.Context, t *ir.Target, fail func(error)) {
	// A target starts once its base is available; the layers that read
	// another target wait for it themselves (see targetBuild.layer), so
	// its first steps overlap with the targets it copies from.
	for _, dep := range startDeps(t) {
		if ch := b.done[dep]; ch != nil && b.needed[dep] {
			select {
			case <-ch:
			default:
				b.emit(engine.Event{Kind: "waiting", Target: t.Name, Line: dep})
			}
		}
		if err := b.awaitTarget(ctx, dep, nil); err != nil {
			if !errors.Is(err, errAbandoned) {
				fail(fmt.Errorf("building %s: %w", t.Name, err))
			}
			return
		}
	}
	sl := &slot{sem: b.sem}
	if err := sl.acquire(ctx); err != nil {
		return
	}
	defer sl.release()
	if ctx.Err() != nil {
		return
	}
	start := time.Now()
	b.emit(engine.Event{Kind: "target", Target: t.Name, Origin: t.Origin})
	r, err := b.buildTarget(ctx, t, sl)
	if errors.Is(err, errAbandoned) {
		return // what stopped it reported its own error
	}
	if err != nil {
		// A refused cache entry was warned about, and the build starts
		// again without it: no error to show.
		var refused *cacheRefusedError
		if !errors.As(err, &refused) {
			b.emit(errorEvent(t.Name, err))
		}
		fail(err)
		return
	}
	b.rmu.Lock()
	b.res[t.Name] = r
	b.rmu.Unlock()
	b.emit(engine.Event{Kind: "done", Target: t.Name, Duration: time.Since(start)})
}

// export records the build, writes the outputs, pushes and returns the
// result.
func (b *builder) export(ctx context.Context) (*engine.Result, error) {
	res := &engine.Result{Pins: b.pins}
	var outs []imageio.Image
	var targets []*ir.Target
	for _, t := range b.p.Targets {
		if !t.Output {
			continue
		}
		r := b.res[t.Name]
		res.Images = append(res.Images, engine.ImageResult{Target: t.Name, Digest: r.digest, Tags: append([]string(nil), t.Tags...)})
		outs = append(outs, imageio.Image{Digest: r.desc.Digest, Names: t.StoreNames()})
		targets = append(targets, t)
	}
	if err := b.s.RecordBuild(b.p, b.recorded()); err != nil {
		return nil, err
	}
	if err := b.imports.recordRemoteBlobs(); err != nil {
		return nil, err
	}
	if err := flushStore(b.s, b); err != nil {
		return nil, err
	}
	if err := b.writeOutputs(ctx, outs, targets); err != nil {
		return nil, err
	}
	return res, nil
}

// writeOutputs writes the images outs of the output targets (in the same
// order) to every --output and, with --push, to every tag's registry.
func (b *builder) writeOutputs(ctx context.Context, outs []imageio.Image, targets []*ir.Target) error {
	for _, out := range b.o.Outputs {
		if err := imageio.WriteOutput(b.s, out.Type, out.Dest, outs); err != nil {
			return err
		}
		b.emit(engine.Event{Kind: "export", Line: out.Type + ":" + out.Dest})
	}
	if !b.o.Push {
		return nil
	}
	var failed imageio.PushErrors
	for i, t := range targets {
		mounted := imageio.RemoteLayers(b.s, outs[i].Digest)
		for _, tag := range t.Tags {
			if err := imageio.PushDigest(ctx, b.s, outs[i].Digest, tag); err != nil {
				failed = failed.Add(err)
				continue
			}
			b.emitUnlabelled(engine.Event{Kind: "export", Target: t.Name, Line: "push:" + tag})
		}
		if mounted > 0 {
			b.emitUnlabelled(engine.Event{Kind: "export", Target: t.Name, Line: fmt.Sprintf("mount:%d cached %s from the registry's cache, not downloaded", mounted, plural(mounted, "layer", "layers"))})
		}
	}
	return failed.Err()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// errorEvent reports a failed target, with the failing layer, its key
// and source when the error says them.
func errorEvent(target string, err error) engine.Event {
	e := engine.Event{Kind: "error", Target: target, Line: err.Error()}
	var se *engine.StepError
	if errors.As(err, &se) {
		e.Layer = se.Layer
		e.Key = se.Key
		if len(se.Origins) > 0 {
			e.Origin = se.Origins[0]
		}
	}
	return e
}

// buildTarget builds one target's layers and stores its image.
func (b *builder) buildTarget(ctx context.Context, t *ir.Target, sl *slot) (*targetResult, error) {
	var st *store.ImageState
	switch t.Base.Kind {
	case ir.BaseTarget:
		r := b.result(t.Base.Target)
		if r == nil {
			return nil, fmt.Errorf("building %s: its base %s is not built", t.Name, t.Base.Target)
		}
		st = r.state.Clone()
	default:
		// An output image's layers found in an imported cache download
		// while the base is pulled.
		if b.images[t.Name] && !b.o.NoCache {
			b.imports.prefetch(ctx, t.Layers, b.forced)
		}
		var digest string
		var err error
		st, digest, err = imageio.PullBase(ctx, b.s, t.Base, t.Platform)
		if err != nil {
			return nil, &engine.StepError{Target: t.Name, Key: t.Base.Key, Origins: []ir.Origin{t.Base.Origin}, Err: err}
		}
		if a := st.Config.Architecture; a != "" && t.Base.Kind != ir.BaseScratch && (a != t.Platform.Architecture || st.Config.OS != t.Platform.OS) && b.p.RunsOn()[t.Name] {
			have := st.Config.OS + "/" + a
			if st.Config.Variant != "" {
				have += "/" + st.Config.Variant
			}
			return nil, &engine.StepError{Target: t.Name, Key: t.Base.Key, Origins: []ir.Origin{t.Base.Origin},
				Err: fmt.Errorf("the base image %s is for %s only, and this build is for %s: use a base that has %s (a multi-platform index), or build with --platform %s", t.Base.Ref, have, t.Platform, t.Platform, have)}
		}
		if digest != "" {
			b.pmu.Lock()
			b.pins[t.Base.Ref.String()+" "+t.Platform.String()] = digest
			b.pmu.Unlock()
		}
	}
	if st.Config.OS == "" {
		st.Config.OS = t.Platform.OS
	}
	if st.Config.Architecture == "" {
		st.Config.Architecture = t.Platform.Architecture
	}
	tb := &targetBuild{b: b, t: t, st: st, slot: sl}
	for _, l := range t.Layers {
		if err := tb.layer(ctx, l); err != nil {
			tb.abandon()
			return nil, err
		}
	}
	if err := tb.finish(); err != nil {
		return nil, err
	}
	return tb.assemble()
}

var errNoContext = errors.New("no build context")
