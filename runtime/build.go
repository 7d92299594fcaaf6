package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/engine/local/runc"
)

// Output is an extra export of the built output targets.
type Output struct {
	// Type is "oci" (an OCI layout directory), "oci-archive" (a tar of
	// one) or "docker" (a tarball for `docker load`).
	Type string
	Dest string
}

// BuildOptions control a build.
type BuildOptions struct {
	// NoCache rebuilds every layer (the results are still recorded).
	NoCache bool
	// Secrets maps a secret id to the host file mounted for it.
	Secrets map[string]string
	Outputs []Output
	// Push writes every tag of every output target to its registry.
	Push bool
	// Compression is "gzip" (the default) or "zstd".
	Compression string
	// SourceDateEpoch clamps file mtimes and sets `created`, for
	// reproducible builds.
	SourceDateEpoch *time.Time
	// Progress receives events; nil means none. Calls are serialised.
	Progress func(Event)
	// Parallelism bounds how many targets build at once; 0 means 2. A
	// target waiting for another one's result does not count.
	Parallelism int
	// Context is the build context directory, for bind mounts without a
	// `from`; empty means the context of the plan's copy steps.
	Context string
	// AllowNetworkHost is the network.host entitlement: without it, Build
	// refuses run steps with network = "host". Other steps get a private
	// network namespace (see runc.Network) or, with "none", loopback only.
	AllowNetworkHost bool
}

// Event is one progress report.
type Event struct {
	Time time.Time
	// Kind is "target" (a target starts), "cached" (a layer is reused),
	// "start" (a layer starts building), "log" (a line of step output),
	// "done" (a layer or, with Layer empty, a target finished), "error",
	// "export" (an output was written; Line names it) or "warning" (Line
	// says what is unsafe about this machine's setup; once per process).
	Kind     string
	Target   string
	Layer    string
	Key      ir.CacheKey
	Origin   ir.Origin
	Line     string
	Duration time.Duration
}

// ImageResult is one built output target.
type ImageResult struct {
	Target string
	// Digest is the manifest digest.
	Digest string
	Tags   []string
}

// Result is what a build produced.
type Result struct {
	Images []ImageResult
	// Pins maps each base reference to the manifest digest it resolved to.
	Pins map[string]string
}

// StepError is a failed step. The CLI renders one diagnostic per origin,
// with the exit status and the output's tail.
type StepError struct {
	Target  string
	Key     ir.CacheKey
	Origins []ir.Origin
	// ExitCode is the command's exit status, or 0 when the step failed
	// without running one.
	ExitCode int
	// Tail is the last lines of the step's output (at most 20).
	Tail []string
	// Layer names the failing layer; empty when the base failed.
	Layer string
	Err   error
}

func (e *StepError) Error() string {
	var where []string
	for _, o := range e.Origins {
		if s := o.String(); s != "" {
			where = append(where, s)
		}
	}
	msg := fmt.Sprintf("building %s", e.Target)
	if len(where) > 0 {
		msg += " (" + strings.Join(where, ", ") + ")"
	}
	if e.ExitCode != 0 {
		return fmt.Sprintf("%s: exit status %d", msg, e.ExitCode)
	}
	return fmt.Sprintf("%s: %v", msg, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// targetResult is a built target: its final filesystem and config.
type targetResult struct {
	state  *imageState
	desc   v1.Descriptor // the manifest
	digest string
}

type builder struct {
	s    *Store
	p    *ir.Plan
	o    BuildOptions
	now  time.Time
	pmu  sync.Mutex
	rmu  sync.Mutex
	res  map[string]*targetResult
	pins map[string]string
	fs   *fsCache
	// forced holds the layers that run whatever the cache holds, and why
	// (see forcedLayers).
	forced map[*ir.Layer]string
	// projectDir is what history comments name source files relative to.
	projectDir string
	// needed are the targets the build makes (see neededTargets); done[t]
	// is closed when t is built, has failed, or is not needed.
	needed map[string]bool
	done   map[string]chan struct{}
	// sem holds one token per target doing work (see slot).
	sem chan struct{}
	// net is the private network of default-network steps (network.go).
	net buildNetwork
}

func (b *builder) emit(e Event) {
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

// Build builds every target of p, each as soon as its base is available
// and each layer reading another target once that target is built, stores
// the output targets by their tags, writes the requested outputs and
// records the build for Explain.
func Build(ctx context.Context, s *Store, p *ir.Plan, o BuildOptions) (*Result, error) {
	if err := checkPlan(p); err != nil {
		return nil, err
	}
	if err := checkEntitlements(p, o); err != nil {
		return nil, err
	}
	if o.Parallelism <= 0 {
		o.Parallelism = 2
	}
	switch o.Compression {
	case "":
		o.Compression = "gzip"
	case "gzip", "zstd":
	default:
		return nil, fmt.Errorf("unknown compression %q: want gzip or zstd", o.Compression)
	}
	if o.Context == "" {
		o.Context = planContext(p)
	}
	storeLk := s.storeLock()
	if err := storeLk.RLock(); err != nil {
		return nil, fmt.Errorf("locking the cache: %w", err)
	}
	defer storeLk.Unlock()
	b := &builder{s: s, p: p, o: o, now: time.Now().UTC(), res: map[string]*targetResult{}, pins: map[string]string{},
		forced: forcedLayers(p), projectDir: projectDir(p.Project)}
	if o.SourceDateEpoch != nil {
		b.now = o.SourceDateEpoch.UTC()
	}
	b.fs = &fsCache{s: s, mounts: map[string]*fsMount{}}
	defer b.fs.release()
	defer b.net.close()
	for _, w := range runc.Warnings() {
		b.emit(Event{Kind: "warning", Line: w})
	}
	// Bundles a killed build left behind may hold secrets.
	if err := runc.ClearStaleBundles(); err != nil {
		return nil, err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	needed := s.neededTargets(p, b.forced, o.NoCache)
	b.needed = needed
	b.done = map[string]chan struct{}{}
	for _, t := range p.Targets {
		b.done[t.Name] = make(chan struct{})
	}
	b.sem = make(chan struct{}, o.Parallelism)
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
	for _, t := range p.Targets {
		if !needed[t.Name] {
			close(b.done[t.Name])
			continue
		}
		wg.Add(1)
		go func(t *ir.Target) {
			defer wg.Done()
			defer close(b.done[t.Name])
			// A target starts once its base is available; the layers that
			// read another target wait for it themselves (see
			// targetBuild.layer), so its first steps overlap with the
			// targets it copies from.
			for _, dep := range startDeps(t) {
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
			b.emit(Event{Kind: "target", Target: t.Name, Origin: t.Origin})
			r, err := b.buildTarget(ctx, t, sl)
			if errors.Is(err, errAbandoned) {
				return // what stopped it reported its own error
			}
			if err != nil {
				b.emit(errorEvent(t.Name, err))
				fail(err)
				return
			}
			b.rmu.Lock()
			b.res[t.Name] = r
			b.rmu.Unlock()
			b.emit(Event{Kind: "done", Target: t.Name, Duration: time.Since(start)})
		}(t)
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("building: %w", err)
	}

	res := &Result{Pins: b.pins}
	var outs []builtImage
	for _, t := range p.Targets {
		if !t.Output {
			continue
		}
		r := b.res[t.Name]
		res.Images = append(res.Images, ImageResult{Target: t.Name, Digest: r.digest, Tags: append([]string(nil), t.Tags...)})
		outs = append(outs, builtImage{target: t, desc: r.desc})
	}
	if err := s.recordBuild(p, needed); err != nil {
		return nil, err
	}
	for _, out := range o.Outputs {
		if err := s.writeOutput(out, outs); err != nil {
			return nil, err
		}
		b.emit(Event{Kind: "export", Line: out.Type + ":" + out.Dest})
	}
	if o.Push {
		for _, bi := range outs {
			for _, tag := range bi.target.Tags {
				if err := s.pushDigest(ctx, bi.desc.Digest, tag); err != nil {
					return nil, err
				}
				b.emit(Event{Kind: "export", Target: bi.target.Name, Line: "push:" + tag})
			}
		}
	}
	return res, nil
}

// errorEvent reports a failed target, with the failing layer, its key
// and source when the error says them.
func errorEvent(target string, err error) Event {
	e := Event{Kind: "error", Target: target, Line: err.Error()}
	var se *StepError
	if errors.As(err, &se) {
		e.Layer = se.Layer
		e.Key = se.Key
		if len(se.Origins) > 0 {
			e.Origin = se.Origins[0]
		}
	}
	return e
}

// checkPlan refuses plans the scheduler cannot run: duplicate target
// names, or a target depending on or reading one that does not come
// before it.
func checkPlan(p *ir.Plan) error {
	if p == nil {
		return errors.New("building: no plan")
	}
	seen := map[string]bool{}
	for _, t := range p.Targets {
		if t == nil {
			return errors.New("building: the plan holds a nil target")
		}
		if seen[t.Name] {
			return fmt.Errorf("building: the plan holds two targets named %q", t.Name)
		}
		for _, dep := range t.DependsOn {
			if !seen[dep] {
				return fmt.Errorf("building %s: it depends on %q, which does not come before it in the plan", t.Name, dep)
			}
		}
		if t.Base.Kind == ir.BaseTarget && !seen[t.Base.Target] {
			return fmt.Errorf("building %s: its base %q does not come before it in the plan", t.Name, t.Base.Target)
		}
		// Layers wait for the targets they read: one that came later could
		// wait for a target waiting for it.
		for _, l := range t.Layers {
			for _, from := range layerSources(l) {
				if !seen[from] {
					return fmt.Errorf("building %s: layer %q reads %q, which does not come before it in the plan", t.Name, l.Name, from)
				}
			}
		}
		seen[t.Name] = true
	}
	return nil
}

// planContext finds the build context in the plan's copy steps.
func planContext(p *ir.Plan) string {
	for _, t := range p.Targets {
		for _, l := range t.Layers {
			for _, st := range l.Steps {
				switch st := st.(type) {
				case *ir.Copy:
					if st.Context != "" {
						return st.Context
					}
				case *ir.Add:
					if st.Context != "" {
						return st.Context
					}
				}
			}
		}
	}
	return ""
}

// buildTarget builds one target's layers and stores its image.
func (b *builder) buildTarget(ctx context.Context, t *ir.Target, sl *slot) (*targetResult, error) {
	var st *imageState
	switch t.Base.Kind {
	case ir.BaseTarget:
		r := b.result(t.Base.Target)
		if r == nil {
			return nil, fmt.Errorf("building %s: its base %s is not built", t.Name, t.Base.Target)
		}
		st = r.state.clone()
	default:
		var digest string
		var err error
		st, digest, err = b.s.pullBase(ctx, t.Base, t.Platform)
		if err != nil {
			return nil, &StepError{Target: t.Name, Key: t.Base.Key, Origins: []ir.Origin{t.Base.Origin}, Err: err}
		}
		if digest != "" {
			b.pmu.Lock()
			b.pins[t.Base.Ref] = digest
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

// builtImage is an output target and its manifest in the store.
type builtImage struct {
	target *ir.Target
	desc   v1.Descriptor
}

// imageNames are the names an output target is stored under.
func imageNames(t *ir.Target) []string {
	if len(t.Tags) > 0 {
		return t.Tags
	}
	return []string{t.Name}
}

var errNoContext = errors.New("no build context")
