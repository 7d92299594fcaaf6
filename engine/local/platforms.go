package local

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/ir"
)

var _ engine.PlatformBuilder = (*Engine)(nil)

// BuildPlatforms builds one plan per platform (see engine.PlatformBuilder)
// at the same time, their targets sharing o.Parallelism slots, and makes
// each output target an image index of its per-platform images.
func (e *Engine) BuildPlatforms(ctx context.Context, plans []*ir.Plan, o engine.BuildOptions) (res *engine.Result, err error) {
	if len(plans) == 1 {
		return e.Build(ctx, plans[0], o)
	}
	if len(plans) == 0 {
		return nil, errors.New("building for no platform")
	}
	for _, out := range o.Outputs {
		if out.Type == "docker" {
			return nil, fmt.Errorf("writing output %s: %w", out.Dest, imageio.ErrDockerIndex)
		}
	}
	if err := checkCacheTypes(o); err != nil {
		return nil, err
	}
	opts, err := engine.PreparePlans(plans, o)
	if err != nil {
		return nil, err
	}
	devs := make([]*stepDevices, len(plans))
	for i, p := range plans {
		if devs[i], err = resolveDevices(p, opts[i]); err != nil {
			return nil, err
		}
	}
	unlock, err := e.lockForBuild(opts[0])
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Progress calls stay serialised across the builds.
	var pmu sync.Mutex
	progress := o.Progress
	sem := make(chan struct{}, opts[0].Parallelism)
	builders := make([]*builder, len(plans))
	for i, p := range plans {
		bo := opts[i]
		if progress != nil {
			bo.Progress = func(ev engine.Event) {
				pmu.Lock()
				defer pmu.Unlock()
				progress(ev)
			}
		}
		b := e.newBuilder(ctx, p, bo)
		b.devices = devs[i]
		b.sem, b.untagged, b.label = sem, true, "("+engine.PlatformOf(p).String()+")"
		defer b.fs.release()
		defer b.net.close()
		builders[i] = b
	}
	defer func() {
		if serr := syncStore(e.s, builders...); serr != nil && err == nil {
			res, err = nil, serr
		}
	}()
	if err := builders[0].start(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(plans))
	var wg sync.WaitGroup
	for i, b := range builders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.buildAll(ctx); err != nil {
				errs[i] = err
				cancel()
			}
		}()
	}
	wg.Wait()
	// A failed step stops the other builds: report it, not their
	// cancellation.
	var failed error
	for i, err := range errs {
		var se *engine.StepError
		if errors.As(err, &se) {
			se.Target += " " + builders[i].label
			return nil, err
		}
		if err != nil && failed == nil {
			failed = err
		}
	}
	if failed != nil {
		return nil, failed
	}
	res, err = e.exportIndexes(ctx, builders)
	if err != nil {
		return nil, err
	}
	if err := exportCaches(ctx, builders); err != nil {
		return nil, err
	}
	return res, nil
}

// exportIndexes records each platform's build, stores an index of each
// output target's images under its tags, writes the outputs and pushes.
func (e *Engine) exportIndexes(ctx context.Context, builders []*builder) (*engine.Result, error) {
	first := builders[0]
	res := &engine.Result{Pins: map[string]string{}}
	for _, b := range builders {
		maps.Copy(res.Pins, b.pins)
		if err := e.s.RecordBuild(b.p, b.recorded()); err != nil {
			return nil, err
		}
		if err := b.imports.recordRemoteBlobs(); err != nil {
			return nil, err
		}
	}
	var outs []imageio.Image
	var targets []*ir.Target
	for _, t := range first.p.Targets {
		if !t.Output {
			continue
		}
		var imgs []imageio.PlatformManifest
		img := engine.ImageResult{Target: t.Name, Tags: append([]string(nil), t.Tags...)}
		for _, b := range builders {
			r := b.result(t.Name)
			bt := b.target(t.Name)
			if r == nil || bt == nil {
				return nil, fmt.Errorf("building %s: the plan for %s has no output %s", t.Name, engine.PlatformOf(b.p), t.Name)
			}
			imgs = append(imgs, imageio.PlatformManifest{Platform: bt.Platform, Desc: r.desc})
			img.Platforms = append(img.Platforms, engine.PlatformImage{Platform: bt.Platform, Digest: r.digest})
		}
		desc, err := imageio.WriteIndex(e.s, imgs)
		if err != nil {
			return nil, err
		}
		if err := e.s.TagImages(desc, t.StoreNames()); err != nil {
			return nil, err
		}
		img.Digest = desc.Digest.String()
		res.Images = append(res.Images, img)
		outs = append(outs, imageio.Image{Digest: desc.Digest, Names: t.StoreNames()})
		targets = append(targets, t)
	}
	if err := flushStore(e.s, builders...); err != nil {
		return nil, err
	}
	if err := first.writeOutputs(ctx, outs, targets); err != nil {
		return nil, err
	}
	return res, nil
}

// target is the plan's target called name, or nil.
func (b *builder) target(name string) *ir.Target {
	for _, t := range b.p.Targets {
		if t.Name == name {
			return t
		}
	}
	return nil
}
