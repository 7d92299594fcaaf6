package buildkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	contentlocal "github.com/containerd/containerd/v2/plugins/content/local"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/imageconfig"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// build is one Build in progress.
type build struct {
	e   *Engine
	c   *client.Client
	p   *ir.Plan
	o   engine.BuildOptions
	now time.Time
	lw  *lowering
	// why is plan's status of each layer before the build, for the
	// reason a layer that ran gives (reason).
	why map[ir.CacheKey]ir.Status
	// configs are the targets' final configs, for targets built on them.
	configs map[string]v1.ConfigFile
	// startIntervals are their healthchecks' start intervals, which
	// v1.HealthConfig has no field for (see store.ImageState).
	startIntervals map[string]time.Duration
	// rootBase is, per target, the config of the image at the root of its
	// base chain (nil for scratch): the daemon keeps that image's layers
	// as they are.
	rootBase map[string]*v1.ConfigFile
	// chains are, per target, what each exported layer below and of the
	// target stands for: nil for a layer of a base image, else imgc's layer.
	chains map[string][]*ir.Layer
	pins   map[string]string
	prog   *progress
	served *servedStore
	export *exportStore
	rec    *record
	prev   *record
	// untagged leaves the output images unnamed (a multi-platform build
	// names their index); label is the platform such a build names in
	// events and errors.
	untagged bool
	label    string
	solved   []solvedTarget
	reach    *reach
	auth     *authServer
	// daemonPulls is set when the daemon pulls a base itself: its layers
	// come into the store as they are, so the export store must not
	// recompress layers as they arrive (layertee.go).
	daemonPulls bool
	// maps are the blob maps beside the imported caches (blobmap.go);
	// targetBlobs the record's blobs each output target uses.
	maps        *blobMaps
	targetBlobs targetBlobs
	// fromMaps counts, per blob map, the layers of the target being
	// assembled that came from it.
	fromMaps map[string]int
}

// solvedTarget is an output target and its image in the store.
type solvedTarget struct {
	t    *ir.Target
	desc v1.Descriptor
}

// Build lowers every target of p to LLB, solves each output target on the
// builder, imports it into the store, records the build and writes the
// requested outputs.
func (e *Engine) Build(ctx context.Context, p *ir.Plan, o engine.BuildOptions) (*engine.Result, error) {
	return e.buildPlans(ctx, []*ir.Plan{p}, o)
}

// newBuild prepares the build of p on the connected daemon c; native is
// the daemon's own platform, prev the last build's record, exported the
// blobs the daemon exported into the store before (exportedTo).
func (e *Engine) newBuild(c *client.Client, p *ir.Plan, o engine.BuildOptions, native ir.Platform, prev *record, exported []string) (*build, error) {
	b := &build{e: e, c: c, p: p, o: o, now: time.Now().UTC(),
		configs: map[string]v1.ConfigFile{}, startIntervals: map[string]time.Duration{}, rootBase: map[string]*v1.ConfigFile{}, chains: map[string][]*ir.Layer{}, pins: map[string]string{},
		rec: &record{Builder: e.o.Addr, Project: p.Project, Layers: map[string]layerRecord{}, Blobs: map[string]blobRecord{}}, prev: prev,
		reach: &reach{ok: map[string]bool{}}, auth: newAuthServer(), fromMaps: map[string]int{}}
	if o.SourceDateEpoch != nil {
		b.now = o.SourceDateEpoch.UTC()
	}
	b.why = e.explain(p, prev, nil) // the record this build read

	b.prog = newProgress(b)
	cs, err := contentlocal.NewStore(filepath.Join(e.s.Dir(), "oci"))
	if err != nil {
		return nil, fmt.Errorf("serving the store to the builder: %w", err)
	}
	b.served = newServedStore(cs)
	b.export = newExportStore(e.s)
	for _, d := range exported {
		b.export.know(digest.Digest(d))
	}
	// The daemon's layers whose blob imgc made in the last build need not
	// come again (recompress takes imgc's).
	for key, pr := range prev.Blobs {
		d, comp, ok := strings.Cut(key, " ")
		if _, held := pr.held(e.s); ok && comp == o.Compression && held {
			b.export.standFor(digest.Digest(d))
		}
	}
	b.lw = newLowering(p, lowerOptions{noCache: o.NoCache, forced: p.ForcedLayers(), context: o.Context, native: native, proxy: llbProxy(o.ProxyEnv)})
	return b, nil
}

// run lowers every target and solves each output target, in order.
func (b *build) run(ctx context.Context) error {
	for _, t := range b.p.Targets {
		if err := b.lowerTarget(ctx, t); err != nil {
			return b.labelled(err)
		}
	}
	for _, t := range b.p.Targets {
		if !t.Output {
			continue
		}
		b.prog.emit(engine.Event{Kind: "target", Target: t.Name, Origin: t.Origin})
		start := time.Now()
		desc, err := b.solve(ctx, t)
		if err != nil {
			return b.labelled(err)
		}
		b.prog.emit(engine.Event{Kind: "done", Target: t.Name, Duration: time.Since(start)})
		b.solved = append(b.solved, solvedTarget{t: t, desc: desc})
	}
	return nil
}

// labelled names the platform of a multi-platform build in a step's error.
func (b *build) labelled(err error) error {
	var se *engine.StepError
	if b.label != "" && errors.As(err, &se) {
		se.Target += " " + b.label
	}
	return err
}

// writeOutputs writes the output targets' images (or indexes) outs to
// every --output and pushes them with --push.
func (b *build) writeOutputs(ctx context.Context, outs []imageio.Image, targets []*ir.Target) error {
	for _, out := range b.o.Outputs {
		if err := imageio.WriteOutput(b.e.s, out.Type, out.Dest, outs); err != nil {
			return err
		}
		b.prog.emit(engine.Event{Kind: "export", Line: out.Type + ":" + out.Dest})
	}
	if !b.o.Push {
		return nil
	}
	var failed imageio.PushErrors
	for i, t := range targets {
		for _, tag := range t.Tags {
			if err := imageio.PushDigest(ctx, b.e.s, outs[i].Digest, tag); err != nil {
				failed = failed.Add(err)
				continue
			}
			b.prog.emit(engine.Event{Kind: "export", Target: t.Name, Line: "push:" + tag})
		}
	}
	return failed.Err()
}

// lowerTarget resolves t's base and lowers its layers.
func (b *build) lowerTarget(ctx context.Context, t *ir.Target) error {
	var base llb.State
	var cfg v1.ConfigFile
	var startInterval time.Duration
	var chain []*ir.Layer
	switch t.Base.Kind {
	case ir.BaseTarget:
		bt := b.lw.targets[t.Base.Target]
		if bt == nil {
			return fmt.Errorf("building %s: its base %s is not lowered", t.Name, t.Base.Target)
		}
		base = bt.state
		bc := b.configs[t.Base.Target]
		cfg, startInterval = *bc.DeepCopy(), b.startIntervals[t.Base.Target]
		chain = append(chain, b.chains[t.Base.Target]...)
		b.rootBase[t.Name] = b.rootBase[t.Base.Target]
	case ir.BaseScratch:
		base = llb.Scratch()
		cfg = v1.ConfigFile{OS: t.Platform.OS, Architecture: t.Platform.Architecture, Variant: t.Platform.Variant, RootFS: v1.RootFS{Type: "layers"}}
	default:
		if t.Base.Kind == ir.BaseRegistry {
			st, ri, ok, err := b.registryBase(ctx, t)
			if err != nil {
				return err
			}
			if ok {
				base, cfg, startInterval = st, *ri.Config.DeepCopy(), ri.StartInterval
				b.rootBase[t.Name] = ri.Config
				chain = make([]*ir.Layer, len(ri.Layers))
				break
			}
		}
		// The base comes into imgc's store as the local engine pulls it, and
		// reaches the daemon from there, pinned by digest: through a session
		// OCI store, so the daemon needs neither the registry nor the file.
		st, digest, err := imageio.PullBase(ctx, b.e.s, t.Base, t.Platform)
		if err != nil {
			return &engine.StepError{Target: t.Name, Key: t.Base.Key, Origins: []ir.Origin{t.Base.Origin}, Err: err}
		}
		if digest != "" {
			b.pins[t.Base.Ref.String()+" "+t.Platform.String()] = digest
		}
		desc, err := imageio.WriteImage(b.e.s, st, nil)
		if err != nil {
			return fmt.Errorf("serving base %s: %w", t.Base.Ref, err)
		}
		if err := b.serve(desc.Digest, st); err != nil {
			return fmt.Errorf("serving base %s: %w", t.Base.Ref, err)
		}
		base = llb.OCILayout("docker.io/library/"+ociStoreID+"@"+desc.Digest.String(), llb.OCIStore("", ociStoreID),
			llb.WithCustomName(fmt.Sprintf("[%s] base %s", t.Name, t.Base.Ref)), llb.Platform(llbPlatform(t.Platform)))
		cfg, startInterval = *st.Config.DeepCopy(), st.StartInterval
		root := st.Config.DeepCopy()
		b.rootBase[t.Name] = root
		for range st.Layers {
			chain = append(chain, nil)
		}
	}
	if cfg.OS == "" {
		cfg.OS = t.Platform.OS
	}
	if cfg.Architecture == "" {
		cfg.Architecture = t.Platform.Architecture
	}
	if _, err := b.lw.target(t, base, cfg, len(chain)); err != nil {
		return err
	}
	for _, l := range t.Layers {
		if len(l.Steps) > 0 {
			chain = append(chain, l)
		}
	}
	b.chains[t.Name] = chain
	// The final config, but for its rootfs and history of its own layers,
	// which the solve's export tells; a target built on this one needs
	// only its env, user and workdir, and the history it inherits, which
	// assemble completes.
	final := *cfg.DeepCopy()
	if err := imageconfig.MergeFile(&final, t.Config); err != nil {
		return fmt.Errorf("the image config of %s: %w", t.Name, err)
	}
	b.configs[t.Name] = final
	b.startIntervals[t.Name] = imageconfig.StartInterval(startInterval, t.Config)
	return nil
}

// serve lets the daemon read the base image st, stored under the manifest
// digest m, from the session's OCI store.
func (b *build) serve(m v1.Hash, st *store.ImageState) error {
	img, err := b.e.s.Image(m)
	if err != nil {
		return err
	}
	cfg, err := img.ConfigName()
	if err != nil {
		return err
	}
	ds := []digest.Digest{digest.Digest(m.String()), digest.Digest(cfg.String())}
	for _, l := range st.Layers {
		ds = append(ds, digest.Digest(l.Digest.String()))
	}
	b.served.allow(ds...)
	b.export.know(ds...)
	return nil
}

// solve solves t on the builder, exports it into the store (the blobs
// the store lacks, through the export store) and writes its image there.
// When a blob the daemon did not send, as imgc said it held its own blob
// of it, proves to be no such thing (a forged blob map, a record out of
// date), it solves again with every blob sent: everything is in the
// daemon's cache by then, so that solve only exports.
func (b *build) solve(ctx context.Context, t *ir.Target) (v1.Descriptor, error) {
	desc, err := b.solveOnce(ctx, t)
	var ns *notSent
	if errors.As(err, &ns) && b.export.shortcuts() {
		b.prog.emit(engine.Event{Kind: "warning", Target: t.Name, Line: fmt.Sprintf("%v; exporting %s again, with every blob sent", ns, t.Name)})
		b.maps = nil
		clear(b.fromMaps)
		desc, err = b.solveOnce(ctx, t)
	}
	return desc, err
}

// notSent is a blob the daemon did not send, as imgc said it held its own
// blob of it, that proves to be no such thing.
type notSent struct {
	digest v1.Hash
	why    string
}

func (e *notSent) Error() string {
	return fmt.Sprintf("the builder did not send %s, as imgc said it held its own blob of it, and %s", e.digest, e.why)
}

func (b *build) solveOnce(ctx context.Context, t *ir.Target) (v1.Descriptor, error) {
	lt := b.lw.targets[t.Name]
	def, err := marshal(ctx, lt.state, t.Platform)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("lowering %s: %w", t.Name, err)
	}
	attrs := map[string]string{"tar": "false", "oci-mediatypes": "true", "compression": b.o.Compression}
	if b.o.SourceDateEpoch != nil {
		attrs[string(exptypes.OptKeySourceDateEpoch)] = strconv.FormatInt(b.o.SourceDateEpoch.Unix(), 10)
		attrs[string(exptypes.OptKeyRewriteTimestamp)] = "true"
	}
	opt := client.SolveOpt{
		Exports:   []client.ExportEntry{{Type: client.ExporterOCI, Attrs: attrs, OutputStore: b.export}},
		OCIStores: map[string]content.Store{},
	}
	opt.OCIStores[ociStoreID] = b.served
	// An inline cache goes with the image it exports; the others are
	// exported once every target is solved (exportCaches).
	var cacheTo []engine.CacheExport
	for _, c := range b.o.CacheTo {
		if c.Type == "inline" && c.Exports(t.Name) {
			cacheTo = append(cacheTo, c)
		}
	}
	opt.CacheExports, opt.CacheImports = cacheEntries(cacheTo, b.o.CacheFrom)
	// Never nil: BuildKit's client copies a local cache import's attributes
	// into a clone of this map, and a clone of nil is nil (a panic).
	opt.FrontendAttrs = map[string]string{}
	if len(b.lw.locals) > 0 {
		mounts, err := localMounts(b.lw.locals)
		if err != nil {
			return v1.Descriptor{}, err
		}
		opt.LocalMounts = mounts
	}
	attach, err := buildAttachables(b.o)
	if err != nil {
		return v1.Descriptor{}, err
	}
	opt.Session = append(opt.Session, attach...)
	for _, c := range append(append([]client.CacheOptionsEntry(nil), opt.CacheExports...), opt.CacheImports...) {
		if c.Type == "registry" {
			b.auth.allow(c.Attrs["ref"])
		}
	}
	opt.Session = append(opt.Session, b.auth)
	var _ session.Attachable
	opt.AllowedEntitlements = entitlements(b.o)
	rootCfg := b.rootBase[t.Name]
	if !b.daemonPulls {
		b.export.recompressAs(b.o.Compression)
	}
	defer b.export.discard()
	buildFunc := func(ctx context.Context, gw gateway.Client) (*gateway.Result, error) {
		req := gateway.SolveRequest{Definition: def.ToPB()}
		// In a gateway build the client hands --cache-from to the build
		// function, which must ask for it, as BuildKit's frontends do.
		if v := gw.BuildOpts().Opts["cache-imports"]; v != "" {
			if err := json.Unmarshal([]byte(v), &req.CacheImports); err != nil {
				return nil, fmt.Errorf("reading the cache imports: %w", err)
			}
		}
		r, err := gw.Solve(ctx, req)
		if err != nil {
			return nil, err
		}
		if rootCfg != nil {
			raw, err := json.Marshal(rootCfg)
			if err != nil {
				return nil, err
			}
			r.AddMeta(exptypes.ExporterImageBaseConfigKey, raw)
		}
		return r, nil
	}
	ch := make(chan *client.SolveStatus)
	var eg errgroup.Group
	eg.Go(func() error {
		b.prog.read(ch)
		return nil
	})
	resp, solveErr := b.c.Build(ctx, opt, "imgc", buildFunc, ch)
	eg.Wait()
	b.prog.finish(solveErr == nil)
	if solveErr != nil {
		if err := b.e.refused(solveErr); err != nil {
			return v1.Descriptor{}, err
		}
		if lostConnection(ctx, solveErr) {
			return v1.Descriptor{}, &BuilderError{Addr: b.e.o.Addr, Summary: "lost the connection to the builder during the build",
				Detail: "The daemon stopped, or the connection to it broke, while it built: no step of yours failed. What it finished is in its cache; build again once it runs (buildctl --addr ADDR debug workers checks it).",
				Err:    errors.New(cleanError(solveErr))}
		}
		return v1.Descriptor{}, b.prog.stepError(t, solveErr)
	}
	exported, err := readExport(b.e.s, resp.ExporterResponse, b.export.holds)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("importing %s from the builder: %w", t.Name, err)
	}
	b.rec.Exported = append(b.rec.Exported, exported.blobs...)
	n, size := b.export.take()
	b.prog.emit(engine.Event{Kind: "received", Target: t.Name,
		Line: fmt.Sprintf("received %d of %d blobs (%d bytes) from the builder", n, len(exported.blobs), size)})
	return b.assemble(t, exported)
}

// assemble writes t's image into the store from the layers the builder
// exported: imgc's config and history, one entry per layer of imgc's, and
// the builder's empty layers (an empty run) left out as the local engine
// leaves them out.
func (b *build) assemble(t *ir.Target, ex *exported) (v1.Descriptor, error) {
	chain := b.chains[t.Name]
	if len(ex.layers) != len(chain) {
		return v1.Descriptor{}, fmt.Errorf("assembling %s: the builder exported %d layers where imgc expects %d", t.Name, len(ex.layers), len(chain))
	}
	st := &store.ImageState{}
	empty := map[*ir.Layer]bool{}
	for i, l := range ex.layers {
		il := chain[i]
		if il == nil {
			if !b.e.s.HasBlob(l.Digest) {
				return v1.Descriptor{}, fmt.Errorf("assembling %s: the builder did not send its base's layer %s", t.Name, l.Digest)
			}
			st.Layers = append(st.Layers, l)
			continue
		}
		if l.DiffID == emptyTarDiffID {
			empty[il] = true
			continue
		}
		cl, err := b.recompress(il, l)
		b.targetBlobs.add(t.Name, l.Digest.String()+" "+b.o.Compression, il.Key)
		if err != nil {
			var se *engine.StepError
			if errors.As(err, &se) {
				se.Target = t.Name
				return v1.Descriptor{}, b.labelled(err)
			}
			return v1.Descriptor{}, fmt.Errorf("storing a layer of %s: %w", t.Name, err)
		}
		st.Layers = append(st.Layers, cl)
	}
	b.maps.report(b.prog.emit)
	for _, from := range slices.Sorted(maps.Keys(b.fromMaps)) {
		them := "them"
		if b.fromMaps[from] == 1 {
			them = "it"
		}
		b.prog.emit(engine.Event{Kind: "received", Target: t.Name,
			Line: fmt.Sprintf("%s as imgc compressed %s, from %s: not compressed again", count(b.fromMaps[from], "layer"), them, from)})
	}
	clear(b.fromMaps)
	var cfg v1.ConfigFile
	if t.Base.Kind == ir.BaseTarget {
		bc := b.configs[t.Base.Target]
		cfg = *bc.DeepCopy()
		cfg.History = b.historyOf(t.Base.Target, empty)
	} else {
		cfg = *b.lw.targets[t.Name].base.DeepCopy()
	}
	for _, l := range t.Layers {
		cfg.History = append(cfg.History, b.historyEntry(l, empty[l] || len(l.Steps) == 0))
	}
	cfg.RootFS = v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{}}
	for _, l := range st.Layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.DiffID)
	}
	if cfg.OS == "" {
		cfg.OS = t.Platform.OS
	}
	if cfg.Architecture == "" {
		cfg.Architecture = t.Platform.Architecture
	}
	if err := imageconfig.MergeFile(&cfg, t.Config); err != nil {
		return v1.Descriptor{}, fmt.Errorf("the image config of %s: %w", t.Name, err)
	}
	created := cfg.Created.Time
	for _, h := range cfg.History {
		if h.Created.After(created) {
			created = h.Created.Time
		}
	}
	if created.IsZero() || (b.o.SourceDateEpoch != nil && created.After(*b.o.SourceDateEpoch)) {
		created = b.now
	}
	cfg.Created = v1.Time{Time: created}
	if b.o.SourceDateEpoch != nil {
		for i := range cfg.History {
			if cfg.History[i].Created.After(*b.o.SourceDateEpoch) {
				cfg.History[i].Created = v1.Time{Time: b.o.SourceDateEpoch.UTC()}
			}
		}
	}
	st.Config = cfg
	st.StartInterval = b.startIntervals[t.Name]
	for i, l := range ex.layers {
		if il := chain[i]; il != nil {
			b.recordLayer(il, l.DiffID, empty[il])
		}
	}
	desc, err := imageio.WriteImage(b.e.s, st, t.Annotations)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing image %s: %w", t.Name, err)
	}
	if !b.untagged {
		if err := b.e.s.TagImages(desc, t.StoreNames()); err != nil {
			return v1.Descriptor{}, err
		}
	}
	return desc, nil
}

// recompress stores the builder's layer l compressed as the local engine
// compresses its layers, so that both engines' images have the same blobs
// and so the same digests. What it made is remembered by the builder's blob
// digest, so a rebuild that reuses the layer does no work; a blob map
// beside an imported cache may give it too (blobmap.go). On the way, the
// layer is checked against the writes its steps declare (il's), as the
// local engine checks its layers: such a layer is read again even when
// remembered, since its declaration may have changed since.
func (b *build) recompress(il *ir.Layer, l store.Layer) (store.Layer, error) {
	key := l.Digest.String() + " " + b.o.Compression
	cl, ok := b.recorded(l)
	if !ok {
		var from string
		if cl, from, ok = b.mappedLayer(l); ok {
			b.fromMaps[from]++
		}
	}
	if !ok {
		if !b.e.s.HasBlob(l.Digest) {
			return store.Layer{}, &notSent{l.Digest, fmt.Sprintf("no blob of imgc's is of that layer (diff ID %s)", l.DiffID)}
		}
		// Recompressed as the daemon sent it (layertee.go), or else in one
		// pass: decompressed, verified against the diff ID and compressed
		// again as it streams (store.PutLayer).
		var teed bool
		var err error
		if cl, teed, err = b.export.claim(l); err != nil {
			return store.Layer{}, err
		}
		if !teed {
			if cl, err = b.putLayer(l); err != nil {
				return store.Layer{}, err
			}
		}
	}
	if _, declares := engine.DeclaredWrites(il); declares {
		// Read again only to check its entries against what its steps
		// declare.
		if err := checkWrites(b.e.s, il, cl); err != nil {
			return store.Layer{}, err
		}
	}
	b.rec.Blobs[key] = blobRecord{Digest: cl.Digest.String(), Size: cl.Size, MediaType: string(cl.MediaType), DiffID: l.DiffID.String()}
	return cl, nil
}

// recorded is the blob the last build stored for the builder's layer l,
// if the store still has it.
func (b *build) recorded(l store.Layer) (store.Layer, bool) {
	pr, ok := b.prev.Blobs[l.Digest.String()+" "+b.o.Compression]
	if !ok || (pr.DiffID != "" && pr.DiffID != l.DiffID.String()) {
		return store.Layer{}, false
	}
	h, held := pr.held(b.e.s)
	if !held {
		return store.Layer{}, false
	}
	return store.Layer{Digest: h, DiffID: l.DiffID, Size: pr.Size, MediaType: types.MediaType(pr.MediaType)}, true
}

// mappedLayer is imgc's blob of the builder's layer l from beside an
// imported cache, unless a tee made it already as the daemon sent it.
func (b *build) mappedLayer(l store.Layer) (store.Layer, string, bool) {
	if b.export.teeing(l.Digest) {
		return store.Layer{}, "", false
	}
	return b.maps.layer(l)
}

// putLayer stores the builder's layer l as recompress does, reading it
// from the store.
func (b *build) putLayer(l store.Layer) (store.Layer, error) {
	rc, err := b.e.s.OpenLayer(l)
	if err != nil {
		return store.Layer{}, err
	}
	defer rc.Close()
	cl, err := b.e.s.PutLayer(rc, l.DiffID, b.o.Compression)
	if err != nil {
		return store.Layer{}, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	return cl, nil
}

// checkWrites checks the stored layer l against the writes il's steps
// declare (engine.CheckWrites).
func checkWrites(s *store.Store, il *ir.Layer, l store.Layer) error {
	rc, err := s.OpenLayer(l)
	if err != nil {
		return err
	}
	defer rc.Close()
	return engine.CheckWrites(il, rc)
}

// historyOf is the history of target name's image: its base's and one
// entry per layer of its own.
func (b *build) historyOf(name string, empty map[*ir.Layer]bool) []v1.History {
	t := b.p.Target(name)
	var h []v1.History
	if t.Base.Kind == ir.BaseTarget {
		h = b.historyOf(t.Base.Target, empty)
	} else {
		h = append(h, b.lw.targets[name].base.History...)
	}
	for _, l := range t.Layers {
		h = append(h, b.historyEntry(l, empty[l] || len(l.Steps) == 0))
	}
	return h
}

// historyEntry is a layer's history entry as the local engine writes it. A
// layer the builder reused keeps the time of the build that made it.
func (b *build) historyEntry(l *ir.Layer, empty bool) v1.History {
	created := b.now
	if pr, ok := b.prev.Layers[l.Key.String()]; ok && b.prog.cached(l) && !pr.Created.IsZero() {
		created = pr.Created
	}
	return v1.History{
		Created:    v1.Time{Time: created},
		CreatedBy:  l.CreatedBy,
		Comment:    imageconfig.HistoryComment(b.p.Project, l.Origin),
		EmptyLayer: empty,
	}
}

func (b *build) recordLayer(l *ir.Layer, diff v1.Hash, empty bool) {
	created := b.now
	cached := b.prog.cached(l)
	if pr, ok := b.prev.Layers[l.Key.String()]; ok && cached && !pr.Created.IsZero() {
		created = pr.Created
	}
	b.rec.Layers[l.Key.String()] = layerRecord{Cached: cached, Empty: empty, DiffID: diff.String(), Created: created}
}

// emptyTarDiffID is the digest of an empty tar (two zero blocks): what
// BuildKit exports for a step that changed nothing.
var emptyTarDiffID = v1.Hash{Algorithm: "sha256", Hex: "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"}

// cacheEntries passes --cache-to and --cache-from to BuildKit's cache
// exporters and importers as buildctl's --export-cache and --import-cache
// would: imgc's type=oci (a layout directory) is BuildKit's type=local.
func cacheEntries(to []engine.CacheExport, from []engine.CacheImport) (exports, imports []client.CacheOptionsEntry) {
	entry := func(typ string, attrs map[string]string) client.CacheOptionsEntry {
		if typ == "oci" {
			typ = "local"
		}
		e := client.CacheOptionsEntry{Type: typ, Attrs: map[string]string{}}
		for k, v := range attrs {
			if k != "type" && k != noBlobMap {
				e.Attrs[k] = v
			}
		}
		return e
	}
	for _, c := range to {
		exports = append(exports, entry(c.Type, c.Attrs))
	}
	for _, c := range from {
		imports = append(imports, entry(c.Type, c.Attrs))
	}
	return exports, imports
}

// entitlements are the entitlements the build grants its steps.
func entitlements(o engine.BuildOptions) []string {
	var out []string
	if o.AllowNetworkHost {
		out = append(out, engine.EntitlementNetworkHost)
	}
	if o.AllowInsecure {
		out = append(out, engine.EntitlementSecurityInsecure)
	}
	if o.Devices.All {
		out = append(out, engine.EntitlementDevice)
	}
	for _, n := range o.Devices.Names {
		out = append(out, engine.EntitlementDevice+"="+n)
	}
	return out
}

// buildAttachables are what the session gives the build: its secrets (an
// empty store when it has none) and its SSH agents.
func buildAttachables(o engine.BuildOptions) ([]session.Attachable, error) {
	var out []session.Attachable
	if len(o.Secrets) > 0 {
		var srcs []secretsprovider.Source
		for id, f := range o.Secrets {
			srcs = append(srcs, secretsprovider.Source{ID: id, FilePath: f})
		}
		st, err := secretsprovider.NewStore(srcs)
		if err != nil {
			return nil, fmt.Errorf("reading secrets: %w", err)
		}
		out = append(out, secretsprovider.NewSecretProvider(st))
	} else {
		out = append(out, secretsprovider.FromMap(map[string][]byte{}))
	}
	if len(o.SSH) > 0 {
		sp, err := sshAgents(o.SSH)
		if err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	return out, nil
}

// sshAgents forwards the build's SSH agents (id -> socket) through the
// session, as buildx --ssh does.
func sshAgents(agents map[string]string) (session.Attachable, error) {
	var confs []sshprovider.AgentConfig
	for id, sock := range agents {
		confs = append(confs, sshprovider.AgentConfig{ID: id, Paths: []string{sock}})
	}
	sp, err := sshprovider.NewSSHAgentProvider(confs)
	if err != nil {
		return nil, fmt.Errorf("forwarding SSH agents: %w", err)
	}
	return sp, nil
}

// lostConnection tells whether a failed solve failed because the daemon
// went away (gRPC's Unavailable: "error reading from server: EOF"), not
// because of a step, and not because the build was cancelled.
func lostConnection(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if status.Code(err) == codes.Unavailable {
		return true
	}
	var s interface{ GRPCStatus() *status.Status }
	return errors.As(err, &s) && s.GRPCStatus().Code() == codes.Unavailable
}

// reason is why layer l ran, as plan said it would, for its DONE line:
// --no-cache, plan's reason, or, for a layer the builder's record lists,
// that the daemon no longer had it.
func (b *build) reason(l *ir.Layer) string {
	if b.o.NoCache {
		return "--no-cache"
	}
	st := b.why[l.Key]
	if st.Hit {
		return "not in the builder's cache"
	}
	return st.Reason
}
