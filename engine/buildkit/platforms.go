package buildkit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

var _ engine.PlatformBuilder = (*Engine)(nil)

// BuildPlatforms builds one plan per platform (see engine.PlatformBuilder)
// on the builder at the same time, one solve per platform and output
// target, and makes each output target an image index of its
// per-platform images, as the local engine makes it.
func (e *Engine) BuildPlatforms(ctx context.Context, plans []*ir.Plan, o engine.BuildOptions) (*engine.Result, error) {
	if len(plans) == 0 {
		return nil, errors.New("building for no platform")
	}
	return e.buildPlans(ctx, plans, o)
}

// buildPlans builds plans, one per platform: one plan is an image per
// output target, several an index of them.
func (e *Engine) buildPlans(ctx context.Context, plans []*ir.Plan, o engine.BuildOptions) (*engine.Result, error) {
	multi := len(plans) > 1
	if multi {
		for _, out := range o.Outputs {
			if out.Type == "docker" {
				return nil, fmt.Errorf("writing output %s: %w", out.Dest, imageio.ErrDockerIndex)
			}
		}
	}
	opts, err := engine.PreparePlans(plans, o)
	if err != nil {
		return nil, err
	}
	unlock, err := e.s.LockShared()
	if err != nil {
		return nil, err
	}
	defer unlock()
	c, err := e.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	native, err := e.checkPlatforms(ctx, c, plans)
	if err != nil {
		return nil, err
	}
	prev := readRecord(e.s, e.o.Addr, plans[0].Project)
	exported := exportedTo(e.s, e.o.Addr)
	var pmu sync.Mutex
	shared, auth := &reach{ok: map[string]bool{}}, newAuthServer()
	mctx, cancelMaps := context.WithCancel(ctx)
	keys := map[ir.CacheKey]bool{}
	for _, p := range plans {
		for _, t := range p.Targets {
			for _, l := range t.Layers {
				keys[l.Key] = true
			}
		}
	}
	maps := openBlobMaps(mctx, e.s, opts[0].CacheFrom, opts[0].Compression, keys)
	// No download goes on into the store once the build is over (and its
	// lock on the store released): one still under way is cancelled (a
	// blob fetched early for nothing stays, unreferenced, for `imgc cache prune`).
	defer func() {
		cancelMaps()
		maps.wait()
	}()
	builds := make([]*build, len(plans))
	for i, p := range plans {
		bo := opts[i]
		label := ""
		if multi {
			label = "(" + engine.PlatformOf(p).String() + ")"
		}
		if o.Progress != nil {
			bo.Progress = func(ev engine.Event) {
				pmu.Lock()
				defer pmu.Unlock()
				if label != "" && ev.Target != "" {
					ev.Target += " " + label
				}
				o.Progress(ev)
			}
		}
		b, err := e.newBuild(c, p, bo, native, prev, exported)
		if err != nil {
			return nil, err
		}
		b.untagged, b.label, b.reach, b.auth = multi, label, shared, auth
		b.maps, b.export.maps = maps, maps
		builds[i] = b
	}
	eg, ectx := errgroup.WithContext(ctx)
	for _, b := range builds {
		eg.Go(func() error { return b.run(ectx) })
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	maps.reportEnd(builds[0].prog.emit, reportWait)
	// The caches are exported before the outputs are written (an output
	// in the build context, -o . say, would change what the export's
	// solve reads), but a failed export still leaves the images recorded,
	// named and written out, as on the local engine, and fails the build.
	caches, cerr := e.exportCaches(ctx, c, builds, opts[0], native)
	res, err := e.finish(ctx, builds)
	if err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, cerr
	}
	e.exportBlobMaps(ctx, builds, caches)
	return res, nil
}

// reportWait is how long a build that is over waits for the blob maps
// still being read, to say what was wrong with them.
const reportWait = 2 * time.Second

// carryForward keeps in rec what the project's earlier builds on the
// builder recorded and this one did not touch, as long as the store holds
// what it names: a build of another target in between does not make the
// next build of this one receive and compress its layers again, nor give
// its reused layers a new creation time (and so the image a new digest).
func carryForward(s *store.Store, rec, prev *record) {
	stands := map[string]bool{}
	for k, br := range prev.Blobs {
		if _, held := br.held(s); !held {
			continue
		}
		if _, ok := rec.Blobs[k]; !ok {
			rec.Blobs[k] = br
		}
		d, _, _ := strings.Cut(k, " ")
		stands[d] = true
	}
	for _, d := range prev.Exported {
		if h, err := v1.NewHash(d); err == nil && (stands[d] || s.HasBlob(h)) {
			rec.Exported = append(rec.Exported, d)
		}
	}
	// A layer's record stays while imgc holds a blob of it (or it is
	// empty), so the record grows no larger than the store.
	held := map[string]bool{}
	for _, br := range rec.Blobs {
		held[br.DiffID] = true
	}
	for k, lr := range prev.Layers {
		if _, ok := rec.Layers[k]; !ok && (lr.Empty || (lr.DiffID != "" && held[lr.DiffID])) {
			rec.Layers[k] = lr
		}
	}
}

// finish records the builds, names each output target's image (one
// platform) or stores and names an index of its images (several), and
// writes the outputs.
func (e *Engine) finish(ctx context.Context, builds []*build) (*engine.Result, error) {
	first := builds[0]
	rec := &record{Builder: e.o.Addr, Project: first.p.Project, Layers: map[string]layerRecord{}, Blobs: map[string]blobRecord{}}
	res := &engine.Result{Pins: map[string]string{}}
	for _, b := range builds {
		built := map[string]bool{}
		for _, t := range b.p.Targets {
			built[t.Name] = true
		}
		if err := e.s.RecordBuild(b.p, built); err != nil {
			return nil, err
		}
		maps.Copy(rec.Layers, b.rec.Layers)
		// The layers of stages no image holds (a stage copied from),
		// which the daemon made or reused: plan --builder's hits.
		for _, t := range b.p.Targets {
			for _, l := range t.Layers {
				if _, ok := rec.Layers[l.Key.String()]; !ok && !t.Output && b.prog.seen(l) {
					rec.Layers[l.Key.String()] = layerRecord{Cached: b.prog.cached(l)}
				}
			}
		}
		maps.Copy(rec.Blobs, b.rec.Blobs)
		maps.Copy(res.Pins, b.pins)
		rec.Exported = append(rec.Exported, b.rec.Exported...)
	}
	carryForward(e.s, rec, first.prev)
	slices.Sort(rec.Exported)
	rec.Exported = slices.Compact(rec.Exported)
	if err := writeRecord(e.s, rec); err != nil {
		return nil, fmt.Errorf("recording the build: %w", err)
	}
	var outs []imageio.Image
	var targets []*ir.Target
	for i, st := range first.solved {
		t := st.t
		img := engine.ImageResult{Target: t.Name, Digest: st.desc.Digest.String(), Tags: append([]string(nil), t.Tags...)}
		if len(builds) > 1 {
			var imgs []imageio.PlatformManifest
			for _, b := range builds {
				if i >= len(b.solved) || b.solved[i].t.Name != t.Name {
					return nil, fmt.Errorf("building %s: the plan for %s has no output %s", t.Name, engine.PlatformOf(b.p), t.Name)
				}
				bt := b.solved[i]
				imgs = append(imgs, imageio.PlatformManifest{Platform: bt.t.Platform, Desc: bt.desc})
				img.Platforms = append(img.Platforms, engine.PlatformImage{Platform: bt.t.Platform, Digest: bt.desc.Digest.String()})
			}
			desc, err := imageio.WriteIndex(e.s, imgs)
			if err != nil {
				return nil, err
			}
			if err := e.s.TagImages(desc, t.StoreNames()); err != nil {
				return nil, err
			}
			img.Digest = desc.Digest.String()
		}
		res.Images = append(res.Images, img)
		h, err := v1.NewHash(img.Digest)
		if err != nil {
			return nil, err
		}
		outs = append(outs, imageio.Image{Digest: h, Names: t.StoreNames()})
		targets = append(targets, t)
	}
	if err := first.writeOutputs(ctx, outs, targets); err != nil {
		return nil, err
	}
	return res, nil
}

// checkPlatforms checks that the daemon's workers build for every platform
// the plans' run steps run on (emulated ones count: buildkitd lists what
// its binfmt_misc handlers run), and returns the daemon's native platform.
// A target that runs nothing (FROM scratch, copies from a stage built on
// the build platform: the cross-compilation idiom) needs no worker of its
// platform, as in BuildKit.
func (e *Engine) checkPlatforms(ctx context.Context, c *client.Client, plans []*ir.Plan) (ir.Platform, error) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ws, err := c.ListWorkers(lctx)
	if err != nil {
		return ir.Platform{}, &BuilderError{Addr: e.o.Addr, Summary: "cannot list the builder's workers",
			Detail: "Check the daemon (`buildctl --addr ADDR debug workers` lists them).", Err: err}
	}
	var have []ocispecs.Platform
	for _, w := range ws {
		have = append(have, w.Platforms...)
	}
	var native ir.Platform
	if len(have) > 0 {
		n := platforms.Normalize(have[0])
		native = ir.Platform{OS: n.OS, Architecture: n.Architecture, Variant: n.Variant}
	}
	seen := map[string]bool{}
	var missing []string
	for _, p := range plans {
		for _, t := range p.Targets {
			want := llbPlatform(t.Platform)
			if want.OS == "" || seen[t.Platform.String()] || !runsSteps(t) {
				continue
			}
			seen[t.Platform.String()] = true
			if !supports(have, want) {
				missing = append(missing, t.Platform.String())
			}
		}
	}
	if len(missing) == 0 {
		return native, nil
	}
	return native, &BuilderError{Addr: e.o.Addr,
		Summary: fmt.Sprintf("the builder cannot build for %s", strings.Join(missing, ", ")),
		Detail: fmt.Sprintf("It builds for %s. Register a QEMU binfmt_misc handler for the architecture (with the F flag) on the builder's host, as `make binfmt` does, and restart buildkitd so that it lists the platform; or build without that platform.",
			platformList(have))}
}

// supports tells whether a worker platform of have is want.
func supports(have []ocispecs.Platform, want ocispecs.Platform) bool {
	m := platforms.NewMatcher(want)
	for _, h := range have {
		if m.Match(h) {
			return true
		}
	}
	return false
}

// platformList is have's platforms, sorted, without duplicates.
func platformList(have []ocispecs.Platform) string {
	seen := map[string]bool{}
	var out []string
	for _, h := range have {
		s := platforms.Format(platforms.Normalize(h))
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return "no platform"
	}
	return strings.Join(out, ", ")
}

// runsSteps tells whether a target has a run step.
func runsSteps(t *ir.Target) bool {
	for _, l := range t.Layers {
		for _, st := range l.Steps {
			if _, ok := st.(*ir.Run); ok {
				return true
			}
		}
	}
	return false
}
