package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/imageconfig"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// sharedCache is what a build imported (--cache-from): the caches it
// consults, in order, for the keys the local index lacks. A hit for a
// layer of an output image is downloaded and verified at once; a hit for a
// layer of another stage only when something needs its content (a run
// above it, a copy from its stage), so a stage whose readers all hit is
// never downloaded. An entry that fails a check is refused with a warning
// naming it, and its layer is built.
type sharedCache struct {
	s    *store.Store
	srcs []*imageio.CacheSource
	emit func(engine.Event)

	mu sync.Mutex
	// refused holds the entries (source name and key) refused so far.
	refused map[string]bool
	// lazy holds the hits whose blobs are not downloaded yet, by digest.
	lazy map[v1.Hash]*lazyBlob
	// sem bounds the background downloads (see reuse).
	sem chan struct{}
	// mountable holds the caches whose blobs a build that only pushes
	// leaves in the registry: a push mounts them (see mountRegistry).
	mountable map[*imageio.CacheSource]bool
	// fetches holds the downloads started or done (see fetch); wg counts
	// the prefetches still running.
	fetches map[fetchID]*fetchOnce
	wg      sync.WaitGroup
}

// fetchID names a download: a blob of a cache, checked against a record.
type fetchID struct {
	src   *imageio.CacheSource
	layer store.Layer
}

type fetchOnce struct {
	done chan struct{}
	err  error
	// retry is set, before done is closed, when the download stopped
	// because its own build attempt was cancelled: another may start it
	// again.
	retry bool
}

// cacheHit is an entry of an imported cache.
type cacheHit struct {
	src *imageio.CacheSource
	rec imageio.CacheRecord
}

// lazyBlob is a blob reused from an imported cache but not downloaded.
type lazyBlob struct {
	hit   cacheHit
	keys  []ir.CacheKey
	layer string
	// mu serialises the download; fetched is set once it succeeded. A
	// cancelled download is tried again by the next build attempt.
	mu      sync.Mutex
	fetched bool
}

// cacheRefusedError stops a build attempt when an entry it reused without
// downloading fails its checks once downloaded: the build starts again
// without the entry (see Engine.Build).
type cacheRefusedError struct {
	err error
}

func (e *cacheRefusedError) Error() string { return e.err.Error() }
func (e *cacheRefusedError) Unwrap() error { return e.err }

// openSharedCache reads the records of every import; one that cannot be
// read is left out with a warning, as BuildKit does.
// A registry cache's blobs are mountable when they are in pushTo, the
// registry of every image the build pushes (see mountRegistry), unless the
// import says mount=false.
func openSharedCache(ctx context.Context, s *store.Store, from []engine.CacheImport, pushTo string, emit func(engine.Event)) *sharedCache {
	if len(from) == 0 {
		return nil
	}
	c := &sharedCache{s: s, emit: emit, refused: map[string]bool{}, lazy: map[v1.Hash]*lazyBlob{}, sem: make(chan struct{}, fetchParallelism),
		mountable: map[*imageio.CacheSource]bool{}, fetches: map[fetchID]*fetchOnce{}}
	for _, imp := range from {
		src, err := imageio.OpenCache(ctx, imp.Type, imp.Location())
		if err != nil {
			emit(engine.Event{Kind: "warning", Line: fmt.Sprintf("not using the cache %s: %s", imp, imageio.Sentence(err))})
			continue
		}
		c.srcs = append(c.srcs, src)
		if pushTo != "" && src.Repository != "" && imp.Attrs["mount"] != "false" {
			if repo, err := name.NewRepository(src.Repository); err == nil && repo.RegistryStr() == pushTo {
				c.mountable[src] = true
			}
		}
	}
	return c
}

// mountRegistry is the registry every output image of a build goes to
// when the build's only output is a push to that one registry: layers of
// its images hit in a cache of that registry are then never downloaded,
// but mounted across repositories on push. Otherwise it is "".
func mountRegistry(p *ir.Plan, o engine.BuildOptions) string {
	if !o.Push || len(o.Outputs) > 0 {
		return ""
	}
	reg := ""
	for _, t := range p.Targets {
		if !t.Output {
			continue
		}
		if len(t.Tags) == 0 {
			return ""
		}
		for _, tag := range t.Tags {
			r, err := imageio.ParseReference(tag)
			if err != nil || (reg != "" && r.Context().RegistryStr() != reg) {
				return ""
			}
			reg = r.Context().RegistryStr()
		}
	}
	return reg
}

// recordRemoteBlobs records in the store where the blobs of its images
// that the build left in a registry are (see store.RemoteBlob), before the
// push mounts them: a later reader downloads and checks them then.
func (c *sharedCache) recordRemoteBlobs() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for d, lz := range c.lazy {
		if !c.mountable[lz.hit.src] || c.s.HasBlob(d) {
			continue
		}
		r := lz.hit.rec
		if err := c.s.PutRemoteBlob(d, store.RemoteBlob{Repository: lz.hit.src.Repository, MediaType: r.MediaType, Size: r.Size, DiffID: r.DiffID, Source: lz.hit.src.Name}); err != nil {
			return fmt.Errorf("recording remote blob %s: %w", d, err)
		}
	}
	return nil
}

// checkCacheTypes refuses the cache exports and imports the local engine
// does not do (BuildKit's other exporters).
func checkCacheTypes(o engine.BuildOptions) error {
	if problems := engine.NotLocal(o.CacheFrom, o.CacheTo); len(problems) > 0 {
		return errors.New(problems[0])
	}
	return nil
}

// ignoredCacheAttrs are warnings naming the BuildKit cache attributes
// the caches were given that the local engine does not use.
func ignoredCacheAttrs(o engine.BuildOptions) []string {
	var out []string
	warn := func(flag, c string, attrs map[string]string) {
		var keys []string
		for k := range attrs {
			if slices.Contains(engine.LocalEngineIgnores, k) {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			return
		}
		sort.Strings(keys)
		var why []string
		for _, w := range []struct {
			keys []string
			why  string
		}{
			{[]string{"compression", "compression-level", "force-compression"}, "its cache holds each layer as the build compressed it (--compression)"},
			{[]string{"oci-mediatypes", "image-manifest"}, "it always writes OCI media types"},
			{[]string{"tag", "reset", "digest"}, "a local cache directory's cache is always under the tag latest"},
			{[]string{engine.BlobMapAttr}, engine.BlobMapAttr + " applies to --builder only"},
		} {
			if slices.ContainsFunc(keys, func(k string) bool { return slices.Contains(w.keys, k) }) {
				why = append(why, w.why)
			}
		}
		out = append(out, fmt.Sprintf("%s %s: the local engine ignores %s: %s",
			flag, c, strings.Join(keys, ", "), strings.Join(why, "; ")))
	}
	for _, c := range o.CacheTo {
		warn("--cache-to", c.String(), c.Attrs)
	}
	for _, c := range o.CacheFrom {
		warn("--cache-from", c.String(), c.Attrs)
	}
	return out
}

// find returns the first usable entry of k, skipping refused ones and,
// when chain is not nil, those built on other content than *chain. An
// entry with a problem is refused (with a warning naming l) on the way.
func (c *sharedCache) find(k ir.CacheKey, chain *string, l *ir.Layer) (cacheHit, bool) {
	if c == nil || k.IsZero() {
		return cacheHit{}, false
	}
	for _, src := range c.srcs {
		rec, problem, ok := src.Lookup(k)
		if !ok || c.isRefused(src, k) {
			continue
		}
		if problem != "" {
			c.refuse(cacheHit{src: src, rec: rec}, l, errors.New(problem))
			continue
		}
		if chain != nil && !rec.BuiltOn(*chain) {
			continue
		}
		return cacheHit{src: src, rec: rec}, true
	}
	return cacheHit{}, false
}

func (c *sharedCache) isRefused(src *imageio.CacheSource, k ir.CacheKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refused[src.Name+" "+k.String()]
}

// refusedCount is how many entries were refused so far.
func (c *sharedCache) refusedCount() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.refused)
}

// refuse marks the entry refused and warns, once, naming the entry and
// its layer.
func (c *sharedCache) refuse(h cacheHit, l *ir.Layer, err error) {
	c.mu.Lock()
	id := h.src.Name + " " + h.rec.Key.String()
	first := !c.refused[id]
	c.refused[id] = true
	c.mu.Unlock()
	if !first {
		return
	}
	layer := ""
	if l != nil && l.Name != "" {
		layer = fmt.Sprintf(" for layer %q", l.Name)
	}
	c.emit(engine.Event{Kind: "warning", Key: h.rec.Key, Line: fmt.Sprintf("refusing the entry %s of the cache %s%s (blob %s): %v; the layer is built instead",
		h.rec.Key.Short(), h.src.Name, layer, h.rec.Digest, err)})
}

// has tells whether an imported cache holds a usable entry for l, whatever
// it was built on (as willRun asks the local index).
func (c *sharedCache) has(l *ir.Layer) bool {
	_, ok := c.find(l.Key, nil, l)
	return ok
}

// reuse finds an imported entry for l built on chain and makes it a
// hit. A layer of an output image (eager) is downloaded and verified in
// the background, at most fetchParallelism at a time, while the build goes
// on: its future fails with a *cacheRefusedError if the blob fails a check
// (the build then starts again without the entry). Another stage's layer
// is only recorded, to download when its content is needed. It returns
// the layer's future, its entry and the name of the cache it came from.
func (c *sharedCache) reuse(ctx context.Context, l *ir.Layer, chain string, eager bool) (*future, store.Entry, string, bool) {
	h, ok := c.find(l.Key, &chain, l)
	if !ok {
		return nil, store.Entry{}, "", false
	}
	e := h.rec.Entry
	if e.Empty {
		c.s.PutKey(l.Key, e)
		return resolvedFuture(e), e, h.src.Name, true
	}
	if !eager && !c.s.HasBlob(e.Digest) {
		c.deferFetch(h, l)
		return resolvedFuture(e), e, h.src.Name, true
	}
	if c.mountable[h.src] && !c.s.HasBlob(e.Digest) {
		// An output image's layer that the push mounts: not downloaded
		// unless a later step needs it (its diff ID is the record's,
		// checked when something reads it).
		c.deferFetch(h, l)
		return resolvedFuture(e), e, h.src.Name, true
	}
	f := &future{done: make(chan struct{}), diff: e.DiffID, cl: e.Layer()}
	go func() {
		defer close(f.done)
		if err := c.fetch(ctx, h); err != nil {
			if ctx.Err() != nil {
				f.err = ctx.Err()
				return
			}
			c.refuse(h, l, err)
			f.err = &cacheRefusedError{err: fmt.Errorf("the entry %s of the cache %s was refused: %w", h.rec.Key.Short(), h.src.Name, err)}
			return
		}
		f.err = c.s.PutKey(l.Key, e)
	}()
	return f, e, h.src.Name, true
}

// fetchParallelism bounds the downloads of a build's eager hits.
const fetchParallelism = 4

// fetch downloads and verifies h's blob into the store (see
// imageio.CacheSource.Fetch), once however many layers and prefetches ask
// for it, at most fetchParallelism downloads at a time. A download that
// another build attempt's cancellation stopped is started again.
func (c *sharedCache) fetch(ctx context.Context, h cacheHit) error {
	id := fetchID{src: h.src, layer: h.rec.Layer()}
	for {
		c.mu.Lock()
		f := c.fetches[id]
		if f == nil {
			f = &fetchOnce{done: make(chan struct{})}
			c.fetches[id] = f
			c.mu.Unlock()
			f.err = c.download(ctx, h)
			if f.err != nil && ctx.Err() != nil {
				c.mu.Lock()
				delete(c.fetches, id)
				f.retry = true
				c.mu.Unlock()
			}
			close(f.done)
			return f.err
		}
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		// Only the download's owner knows whether its attempt was
		// cancelled: a network timeout is a DeadlineExceeded too, and
		// final.
		if !f.retry {
			return f.err
		}
	}
}

func (c *sharedCache) download(ctx context.Context, h cacheHit) error {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.sem }()
	// select picks either when both are ready: a download queued behind
	// others does not start once the build attempt is over.
	if err := ctx.Err(); err != nil {
		return err
	}
	return h.src.Fetch(ctx, c.s, h.rec)
}

// prefetch starts, before an output target's base is pulled, the
// downloads that reuse will wait for: those of the target's layers that
// hit an imported cache by key, in order, up to the first layer that
// would run (what follows it is rebuilt, or reused once the build knows
// what it was built on). A hit is found by key alone, before the base's
// content is known: where the entry turns out built on other content (a
// step that is not reproducible ran again below it), reuse refuses it
// and the download was for nothing. wait waits for them.
func (c *sharedCache) prefetch(ctx context.Context, layers []*ir.Layer, forced map[*ir.Layer]string) {
	if c == nil {
		return
	}
	for _, l := range layers {
		if l.NoCache || forced[l] != "" {
			return
		}
		if _, ok, _ := c.s.LookupKey(l.Key); ok {
			continue
		}
		h, ok := c.find(l.Key, nil, l)
		if !ok {
			return
		}
		if h.rec.Empty || c.mountable[h.src] || c.s.HasBlob(h.rec.Digest) {
			continue
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.fetch(ctx, h) // its error is reuse's to report
		}()
	}
}

// wait waits for the prefetches to end.
func (c *sharedCache) wait() {
	if c != nil {
		c.wg.Wait()
	}
}

func (c *sharedCache) deferFetch(h cacheHit, l *ir.Layer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lz := c.lazy[h.rec.Digest]
	if lz == nil {
		lz = &lazyBlob{hit: h, layer: l.Name}
		c.lazy[h.rec.Digest] = lz
	}
	lz.keys = append(lz.keys, l.Key)
}

// fetchChain downloads the blobs of chain that were reused from an
// imported cache without downloading, for a build that now needs their
// content. A blob that fails its checks refuses its entry and stops the
// build attempt with a *cacheRefusedError.
func (c *sharedCache) fetchChain(ctx context.Context, chain []store.Layer) error {
	if c == nil {
		return nil
	}
	for _, l := range chain {
		if l.Digest.Hex == "" || c.s.HasSnapshot(l.DiffID) || c.s.HasBlob(l.Digest) {
			continue
		}
		c.mu.Lock()
		lz := c.lazy[l.Digest]
		c.mu.Unlock()
		if lz == nil {
			continue
		}
		lz.mu.Lock()
		var err error
		if !lz.fetched {
			if err = lz.hit.src.Fetch(ctx, c.s, lz.hit.rec); err == nil {
				lz.fetched = true
				for _, k := range lz.keys {
					c.s.PutKey(k, lz.hit.rec.Entry)
				}
			}
		}
		lz.mu.Unlock()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c.refuse(lz.hit, &ir.Layer{Name: lz.layer}, err)
			c.mu.Lock()
			delete(c.lazy, l.Digest)
			c.mu.Unlock()
			return &cacheRefusedError{err: fmt.Errorf("the entry %s of the cache %s was refused: %w", lz.hit.rec.Key.Short(), lz.hit.src.Name, err)}
		}
	}
	return nil
}

// pending returns the imported record of k that the build reused without
// downloading, for an export that lists it.
func (c *sharedCache) pending(k ir.CacheKey) (cacheHit, bool) {
	if c == nil {
		return cacheHit{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, lz := range c.lazy {
		for _, lk := range lz.keys {
			if lk == k {
				return cacheHit{src: lz.hit.src, rec: lz.hit.rec}, true
			}
		}
	}
	return cacheHit{}, false
}

// openBlob opens a blob the store lacks from the imported cache that
// holds it, for an export.
func (c *sharedCache) openBlob(ctx context.Context, d v1.Hash) (io.ReadCloser, error) {
	c.mu.Lock()
	lz := c.lazy[d]
	c.mu.Unlock()
	if lz == nil {
		return nil, fmt.Errorf("blob %s is in no imported cache", d)
	}
	return lz.hit.src.Open(ctx, d)
}

// imageTargets are the targets whose layers end up in an output image:
// the output targets and the targets they are built on.
func imageTargets(p *ir.Plan) map[string]bool {
	out := map[string]bool{}
	for i := len(p.Targets) - 1; i >= 0; i-- {
		t := p.Targets[i]
		if t.Output || out[t.Name] {
			out[t.Name] = true
			if t.Base.Kind == ir.BaseTarget {
				out[t.Base.Target] = true
			}
		}
	}
	return out
}

// exportCaches writes each --cache-to export of the build: one artifact
// of the layers of every platform's plan (builders holds one per
// platform). A multi-platform export records each target's layers under
// its name and platform (see platformTarget) as well as, for the first
// platform, its name alone.
func exportCaches(ctx context.Context, builders []*builder) error {
	first := builders[0]
	for _, exp := range first.o.CacheTo {
		cfg := &imageio.CacheConfig{Targets: map[string][]*ir.Layer{}}
		seen := map[ir.CacheKey]bool{}
		for i, b := range builders {
			c := b.cacheConfig(exp.Mode == "max", exportScope(b.p, exp))
			for _, r := range c.Records {
				if !seen[r.Key] {
					seen[r.Key] = true
					cfg.Records = append(cfg.Records, r)
				}
			}
			for name, layers := range c.Targets {
				if i == 0 {
					cfg.Targets[name] = layers
				}
				if len(builders) > 1 {
					cfg.Targets[platformTarget(name, engine.PlatformOf(b.p))] = layers
				}
			}
		}
		opener := func(ctx context.Context, d v1.Hash) (io.ReadCloser, error) {
			for _, b := range builders {
				if b.imports == nil {
					continue
				}
				if rc, err := b.imports.openBlob(ctx, d); err == nil {
					return rc, nil
				}
			}
			return nil, fmt.Errorf("blob %s is in no imported cache", d)
		}
		if err := imageio.ExportCache(ctx, first.s, exp.Type, exp.Location(), cfg, opener); err != nil {
			if exp.IgnoreError {
				line := err.Error()
				var ce *imageio.CacheExportError
				if errors.As(err, &ce) {
					line = ce.Sentence()
				}
				first.emit(engine.Event{Kind: "warning", Line: line + " (ignore-error=true: the build goes on)"})
				continue
			}
			return err
		}
		keys := "keys"
		if len(cfg.Records) == 1 {
			keys = "key"
		}
		first.emit(engine.Event{Kind: "export", Line: fmt.Sprintf("cache %s (mode=%s, %d %s)", exp, exp.Mode, len(cfg.Records), keys)})
	}
	return nil
}

// platformTarget is the name a multi-platform cache export records a
// target's layers under for one platform: "app@linux/arm64".
func platformTarget(name string, p ir.Platform) string { return name + "@" + p.String() }

// exportScope names the targets whose layers exp exports: with
// mode=max every target of the plan, else the output images and the
// targets they are built on; an export scoped to some targets (an image's
// cache_to) takes those, the targets they are built on and, with mode=max,
// every target they read, transitively.
func exportScope(p *ir.Plan, exp engine.CacheExport) map[string]bool {
	max := exp.Mode == "max"
	if len(exp.Targets) == 0 {
		if max {
			all := map[string]bool{}
			for _, t := range p.Targets {
				all[t.Name] = true
			}
			return all
		}
		return imageTargets(p)
	}
	byName := map[string]*ir.Target{}
	for _, t := range p.Targets {
		byName[t.Name] = t
	}
	out := map[string]bool{}
	var add func(name string)
	add = func(name string) {
		t := byName[name]
		if t == nil || out[name] {
			return
		}
		out[name] = true
		if !max {
			if t.Base.Kind == ir.BaseTarget {
				add(t.Base.Target)
			}
			return
		}
		for _, d := range t.Dependencies() {
			add(d)
		}
	}
	for _, name := range exp.Targets {
		add(name)
	}
	return out
}

// cacheConfig gathers the records of an export: those of the layers of
// the targets in scope that the local index or (with max) an imported
// cache holds. Each exported target's layers go along with their
// recorded inputs, origins relative to the project.
func (b *builder) cacheConfig(max bool, scope map[string]bool) *imageio.CacheConfig {
	cfg := &imageio.CacheConfig{Targets: map[string][]*ir.Layer{}}
	seen := map[ir.CacheKey]bool{}
	add := func(k ir.CacheKey) {
		if k.IsZero() || seen[k] {
			return
		}
		seen[k] = true
		if e, ok, _ := b.s.LookupKey(k); ok {
			cfg.Records = append(cfg.Records, imageio.CacheRecord{Key: k, Entry: e})
			return
		}
		if h, ok := b.imports.pending(k); ok {
			cfg.Records = append(cfg.Records, h.rec)
			return
		}
		if !max {
			return
		}
		if h, ok := b.imports.find(k, nil, nil); ok {
			// A stage this build skipped: keep what the import had, its
			// blob copied from there if the destination lacks it.
			if !h.rec.Empty {
				b.imports.deferFetch(h, &ir.Layer{Key: k})
			}
			cfg.Records = append(cfg.Records, h.rec)
		}
	}
	for _, t := range b.p.Targets {
		if !scope[t.Name] {
			continue
		}
		var layers []*ir.Layer
		for _, l := range t.Layers {
			add(l.Key)
			for _, k := range l.Merged {
				add(k)
			}
			c := *l
			c.Steps = nil
			c.Origin.File = imageconfig.RelativeFile(b.projectDir, c.Origin.File)
			layers = append(layers, &c)
		}
		cfg.Targets[t.Name] = layers
	}
	return cfg
}
