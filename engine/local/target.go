package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gofrs/flock"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/imageconfig"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// future is a layer whose blob may still be being compressed; its diff id
// (all the next layer needs to run over it) is known at once.
type future struct {
	done  chan struct{}
	diff  v1.Hash
	empty bool
	cl    store.Layer
	err   error
	// layer is the layer the future is for, to name it in errors.
	layer *ir.Layer
}

func resolvedFuture(e store.Entry) *future {
	f := &future{done: make(chan struct{}), diff: e.DiffID, empty: e.Empty}
	f.cl = e.Layer()
	close(f.done)
	return f
}

func (f *future) wait() error {
	<-f.done
	return f.err
}

// targetBuild is one target's build in progress.
type targetBuild struct {
	b       *builder
	t       *ir.Target
	st      *store.ImageState
	layers  []*future
	history []v1.History
	// rebuild makes every layer run whatever the cache holds: set for the
	// steps of a merged layer that is forced (see ir.Plan.ForcedLayers).
	rebuild bool
	// slot is the target's share of the build's parallelism, given back
	// while a layer waits for a target it reads.
	slot *slot
	// chain is parentChain's result for the first chainLen layers.
	chain        string
	chainLen     int
	chainStarted bool
	// snaps is what snapshots has seen of the layers so far.
	snaps snapshotDirs
}

// layer reuses or builds one layer of the target.
func (tb *targetBuild) layer(ctx context.Context, l *ir.Layer) error {
	b := tb.b
	h := v1.History{
		Created:   v1.Time{Time: b.now},
		CreatedBy: l.CreatedBy,
		Comment:   "imgc: " + imageconfig.RelativeOrigin(b.projectDir, l.Origin),
	}
	// A forced layer runs again and replaces its cache entry, so that a
	// later build reusing it gets what this one made.
	reuse := !l.NoCache && !b.o.NoCache && !tb.rebuild && b.forced[l] == ""
	if reuse {
		if e, ok, _ := b.s.LookupKey(l.Key); ok && e.BuiltOn(tb.parentChain()) {
			b.s.TouchKey(l.Key)
			tb.reuse(l, resolvedFuture(e), e, h, "")
			return nil
		}
		// An imported cache's entry: downloaded now for a layer of an
		// output image, when a later step needs it for another.
		if f, e, from, ok := b.imports.reuse(ctx, l, tb.parentChain(), b.images[tb.t.Name]); ok {
			tb.reuse(l, f, e, h, from)
			return nil
		}
	}
	// The layer runs: the targets it reads must be built first. Waiting
	// before taking the key lock keeps the lock free for another build
	// that could make the layer meanwhile.
	for _, from := range l.Reads() {
		if ch := b.done[from]; ch != nil && b.needed[from] {
			select {
			case <-ch:
			default:
				b.emit(engine.Event{Kind: "waiting", Target: tb.t.Name, Layer: l.Name, Origin: l.Origin, Line: from})
			}
		}
		if err := b.awaitTarget(ctx, from, tb.slot); err != nil {
			return err
		}
	}
	if l.Key.IsZero() {
		return &engine.StepError{Target: tb.t.Name, Layer: l.Name, Origins: []ir.Origin{l.Origin}, Err: fmt.Errorf("layer %q has no cache key", l.Name)}
	}
	lk, ok, err := b.s.TryLock("key-" + l.Key.Hex())
	if err != nil {
		return err
	}
	if !ok {
		// Another build (of this cache directory) is making the layer:
		// say so rather than wait in silence, then reuse what it made.
		b.emit(engine.Event{Kind: "waiting", Target: tb.t.Name, Layer: l.Name, Origin: l.Origin, Line: engine.AnotherBuild})
		if lk, err = b.s.LockContext(ctx, "key-"+l.Key.Hex()); err != nil {
			return err
		}
	}
	if reuse {
		// Another build may have made it while this one waited for the lock.
		if e, ok, _ := b.s.LookupKey(l.Key); ok && e.BuiltOn(tb.parentChain()) {
			lk.Unlock()
			tb.reuse(l, resolvedFuture(e), e, h, "")
			return nil
		}
	}
	start := time.Now()
	b.why.running(l)
	b.emit(engine.Event{Kind: "start", Target: tb.t.Name, Layer: l.Name, Key: l.Key, Origin: l.Origin})
	f, err := tb.execute(ctx, l, lk)
	if err != nil {
		lk.Unlock()
		var se *engine.StepError
		if !errors.As(err, &se) {
			err = &engine.StepError{Target: tb.t.Name, Key: l.Key, Origins: []ir.Origin{l.Origin}, Err: err}
		} else if se.Layer == "" {
			se.Layer = l.Name
		}
		return err
	}
	b.emit(engine.Event{Kind: "done", Target: tb.t.Name, Layer: l.Name, Key: l.Key, Origin: l.Origin, Duration: time.Since(start), Reason: b.why.reason(tb.t, l)})
	h.EmptyLayer = f.empty
	tb.appendLayer(l, f, h)
	return nil
}

// reuse appends the cached entry e as layer l, reused from the local
// cache or (from not empty) an imported one; f completes once its blob is
// in the store.
func (tb *targetBuild) reuse(l *ir.Layer, f *future, e store.Entry, h v1.History, from string) {
	tb.b.emit(engine.Event{Kind: "cached", Target: tb.t.Name, Layer: l.Name, Key: l.Key, Origin: l.Origin, Line: from})
	h.EmptyLayer = e.Empty
	if !e.Created.IsZero() {
		h.Created = v1.Time{Time: e.Created}
	}
	tb.appendLayer(l, f, h)
}

// parentChain identifies the content the next layer goes on: the OCI chain
// ID of the base's layers and of the layers this build made or reused so
// far. It extends the previous result instead of hashing the whole chain
// again for every layer.
func (tb *targetBuild) parentChain() string {
	if !tb.chainStarted {
		for _, l := range tb.st.Layers {
			tb.chain = chainStep(tb.chain, l.DiffID)
		}
		tb.chainStarted = true
	}
	for ; tb.chainLen < len(tb.layers); tb.chainLen++ {
		if f := tb.layers[tb.chainLen]; !f.empty {
			tb.chain = chainStep(tb.chain, f.diff)
		}
	}
	return tb.chain
}

// chainStep extends an OCI chain ID by one layer's diff ID.
func chainStep(chain string, diff v1.Hash) string {
	if chain == "" {
		return diff.String()
	}
	sum := sha256.Sum256([]byte(chain + " " + diff.String()))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// appendLayer appends a reused or built layer and its history entry.
func (tb *targetBuild) appendLayer(l *ir.Layer, f *future, h v1.History) {
	f.layer = l
	tb.layers = append(tb.layers, f)
	tb.history = append(tb.history, h)
}

// finishFuture completes f in the background: it waits for the layer's
// compression to end, stores the blob, records the cache entry and
// releases the key lock.
func (tb *targetBuild) finishFuture(f *future, key ir.CacheKey, parentChain string, lw *store.LayerWriter, lk *flock.Flock) {
	go func() {
		defer close(f.done)
		defer lk.Unlock()
		cl, err := lw.Close()
		if err == nil {
			err = lw.Commit()
		} else {
			lw.Abort()
		}
		if err != nil {
			f.err = fmt.Errorf("storing layer: %w", err)
			return
		}
		f.cl = cl
		f.err = tb.b.s.PutKey(key, store.Entry{Digest: cl.Digest, DiffID: cl.DiffID, Size: cl.Size, MediaType: cl.MediaType, ParentChain: parentChain, Created: tb.b.now})
	}()
}

// finish waits for every layer's blob.
func (tb *targetBuild) finish() error {
	var first error
	for _, f := range tb.layers {
		if err := f.wait(); err != nil && first == nil {
			se := &engine.StepError{Target: tb.t.Name, Err: err}
			if l := f.layer; l != nil {
				se.Layer, se.Key, se.Origins = l.Name, l.Key, []ir.Origin{l.Origin}
			}
			first = se
		}
	}
	return first
}

// abandon waits for background work after a failure, so nothing is left
// writing into the store.
func (tb *targetBuild) abandon() {
	for _, f := range tb.layers {
		f.wait()
	}
}

// assemble writes the target's config and manifest into the store and,
// for an output target, names it in the store's index.
func (tb *targetBuild) assemble() (*targetResult, error) {
	t := tb.t
	st := tb.st
	other := 0 // layers whose compression is not the build's
	for _, f := range tb.layers {
		if !f.empty {
			st.Layers = append(st.Layers, f.cl)
			if f.cl.MediaType != store.LayerMediaType(tb.b.o.Compression) {
				other++
			}
		}
	}
	if other > 0 && t.Output {
		name := "gzip"
		if tb.b.o.Compression == "zstd" {
			name = "zstd"
		}
		tb.b.emit(engine.Event{Kind: "warning", Target: t.Name, Line: fmt.Sprintf(
			"%d of the image's layers come from the cache compressed otherwise than --compression %s asks (a cached layer keeps the compression it was stored with): build with --no-cache, or another --cache-dir, for one compression throughout",
			other, name)})
	}
	cfg := &st.Config
	cfg.History = append(cfg.History, tb.history...)
	cfg.RootFS = v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{}}
	for _, l := range st.Layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.DiffID)
	}
	if err := imageconfig.MergeFile(cfg, t.Config); err != nil {
		return nil, fmt.Errorf("the image config of %s: %w", t.Name, err)
	}
	st.StartInterval = imageconfig.StartInterval(st.StartInterval, t.Config)
	// The image is as old as its newest layer: an unchanged rebuild gives
	// the same config, and so the same digest.
	created := cfg.Created.Time
	for _, h := range tb.history {
		if h.Created.After(created) {
			created = h.Created.Time
		}
	}
	if created.IsZero() || (tb.b.o.SourceDateEpoch != nil && created.After(*tb.b.o.SourceDateEpoch)) {
		created = tb.b.now
	}
	cfg.Created = v1.Time{Time: created}
	if tb.b.o.SourceDateEpoch != nil {
		for i := range cfg.History {
			if cfg.History[i].Created.After(*tb.b.o.SourceDateEpoch) {
				cfg.History[i].Created = v1.Time{Time: tb.b.o.SourceDateEpoch.UTC()}
			}
		}
	}
	desc, err := imageio.WriteImage(tb.b.s, st, t.Annotations)
	if err != nil {
		return nil, fmt.Errorf("writing image %s: %w", t.Name, err)
	}
	if t.Output && !tb.b.untagged {
		named := desc
		named.Annotations = map[string]string{store.BlockNameAnnotation: t.Name}
		if err := tb.b.s.TagImages(named, t.StoreNames()); err != nil {
			return nil, err
		}
		for _, n := range t.StoreNames() {
			tb.b.emit(engine.Event{Kind: "export", Target: t.Name, Line: "name:" + n})
		}
	}
	return &targetResult{state: st, desc: desc, digest: desc.Digest.String()}, nil
}
