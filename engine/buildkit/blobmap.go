package buildkit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// The BuildKit engine stores each layer the daemon makes compressed as
// the local engine compresses it (build.recompress), which takes a core
// for seconds on a large layer. A build remembers what it made in its
// record, but a build on another machine, or in a fresh cache directory,
// that imports a shared cache would compress every layer again. So an
// export of a shared cache (--cache-to, type=registry or local) also
// writes imgc's blobs beside it, with a map from the daemon's blobs to
// them (imageio.ExportBlobMap), and an import (--cache-from) reads that
// map: a layer the map covers is downloaded as imgc made it, verified
// against its digest and the diff ID the daemon's image gives, and never
// compressed again. A layer it does not cover, or whose blob fails to
// download or to verify, is compressed as before.

// mapReadTimeout bounds the reading of the maps, and fetchTimeout (plus
// a second per MiB) a blob's download: past them, the daemon sends its
// own blobs. (Variables for tests.)
var (
	mapReadTimeout = 30 * time.Second
	fetchTimeout   = 30 * time.Second
)

// noBlobMap is the cache export attribute that writes no blob map (the
// cache then holds the daemon's blobs only, and an import compresses
// them again).
const noBlobMap = engine.BlobMapAttr

// blobMaps are the blob maps beside a build's imported caches, read on
// their own goroutine as the build starts, and the downloads of their
// blobs, one per blob.
type blobMaps struct {
	s           *store.Store
	ctx         context.Context
	compression string
	ready       chan struct{}
	// maps is set before ready closes; problems, under mu, are what
	// report has yet to say.
	maps     []*imageio.BlobMap
	problems []string
	// names are the caches read, for messages.
	names []string

	mu sync.Mutex
	// fetches are by map and the whole layer, not its digest alone: a
	// blob is checked against each content an entry gives it, and a map's
	// failure is not another's.
	fetches map[fetchKey]*mapFetch
	// sem bounds the downloads the daemon waits for at once, early the
	// downloads started before it asks (which never delay the others').
	sem, early chan struct{}
}

type fetchKey struct {
	bm *imageio.BlobMap
	l  store.Layer
}

type mapFetch struct {
	done     chan struct{}
	err      error
	reported bool
}

// openBlobMaps starts reading the blob maps beside the registry and
// local caches of from, and downloading the blobs of the layers whose
// keys the build has (they are likely what the daemon will find in the
// cache); nil when there are none to read.
func openBlobMaps(ctx context.Context, s *store.Store, from []engine.CacheImport, compression string, keys map[ir.CacheKey]bool) *blobMaps {
	var imports []engine.CacheImport
	for _, c := range from {
		if c.Type == "registry" || c.Type == "local" || c.Type == "oci" {
			imports = append(imports, c)
		}
	}
	if len(imports) == 0 || compression == "" {
		return nil
	}
	m := &blobMaps{s: s, ctx: ctx, compression: compression, ready: make(chan struct{}), fetches: map[fetchKey]*mapFetch{}, early: make(chan struct{}, 2), sem: make(chan struct{}, 4)}
	for _, c := range imports {
		m.names = append(m.names, c.String())
	}
	go func() {
		defer close(m.ready)
		rctx, cancel := context.WithTimeout(ctx, mapReadTimeout)
		defer cancel()
		for _, c := range imports {
			bm, merr := imageio.OpenBlobMap(rctx, c.Type, c.Location(), c.Attrs["tag"])
			if bm != nil {
				m.maps = append(m.maps, bm)
				continue
			}
			// No map, or one that cannot be read: maybe no cache either (a
			// typo, a first build, a registry that is down).
			if err := imageio.CheckBuildKitCache(rctx, c.Type, c.Location(), c.Attrs["tag"]); err != nil {
				m.problem("the cache %s cannot be read, so nothing is imported from it: %s", c, imageio.Sentence(err))
			} else if merr != nil {
				m.problem("not using imgc's blobs beside the cache %s (its layers are compressed again instead): %v", c, merr)
			}
		}
		for _, bm := range m.maps {
			for _, e := range bm.ForKeys(keys, compression) {
				if !s.HasBlob(e.Digest) {
					m.start(bm, e.Layer(), m.early)
				}
			}
		}
	}()
	return m
}

// loaded tells, without waiting, whether the maps are read.
func (m *blobMaps) loaded() bool {
	if m == nil {
		return false
	}
	select {
	case <-m.ready:
		return true
	default:
		return false
	}
}

// claim downloads and verifies the blob a map has for the daemon's blob
// desc, if one has, and tells whether that worked: the daemon, about to
// send desc, need not. It waits at most fetchTimeout plus a second per
// MiB of the daemon's blob, whatever the map says, and the maps' reading
// at most mapReadTimeout. (The exporter's writes through the session do
// not say what a blob is: when a claimed blob is no layer of imgc's, or
// not the layer the daemon's image says, the solve exports again without
// the maps; build.solve.)
func (m *blobMaps) claim(ctx context.Context, desc ocispecs.Descriptor) bool {
	if m == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, fetchBound(desc.Size))
	defer cancel()
	select {
	case <-m.ready:
	case <-ctx.Done():
		return false
	}
	h, err := v1.NewHash(desc.Digest.String())
	if err != nil {
		return false
	}
	for _, bm := range m.maps {
		e, ok := bm.Entry(h, m.compression)
		if !ok || !plausibleSize(e.Size, desc.Size) {
			continue
		}
		f := m.start(bm, e.Layer(), m.sem)
		select {
		case <-f.done:
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				m.problem("not waiting longer for imgc's blob %s from %s for the builder's layer %s (the builder sends its own, compressed again)", e.Digest, bm.Name, desc.Digest)
			}
			return false
		}
		if m.ok(f, bm, e.Layer(), store.Layer{Digest: h}) {
			return true
		}
	}
	return false
}

// plausibleSize tells whether imgc's compression of a layer whose
// daemon's blob has size theirs may have size ours: the two compress the
// same content at the same level, within a few percent (theirs 0:
// unknown).
func plausibleSize(ours, theirs int64) bool {
	return theirs <= 0 || ours <= 2*theirs+1<<20
}

// start starts downloading the blob l of bm, in one of the slots of sem,
// unless it is under way.
func (m *blobMaps) start(bm *imageio.BlobMap, l store.Layer, sem chan struct{}) *mapFetch {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := fetchKey{bm, l}
	if f := m.fetches[k]; f != nil {
		return f
	}
	f := &mapFetch{done: make(chan struct{})}
	m.fetches[k] = f
	go func() {
		defer close(f.done)
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
		case <-m.ctx.Done():
			f.err = m.ctx.Err()
			return
		}
		ctx, cancel := context.WithTimeout(m.ctx, fetchBound(l.Size))
		defer cancel()
		f.err = bm.Fetch(ctx, m.s, l)
	}()
	return f
}

// wait waits for the maps' reading and every download started.
func (m *blobMaps) wait() {
	if m == nil {
		return
	}
	<-m.ready
	m.mu.Lock()
	var fs []*mapFetch
	for _, f := range m.fetches {
		fs = append(fs, f)
	}
	m.mu.Unlock()
	for _, f := range fs {
		<-f.done
	}
}

// layer returns imgc's blob for the daemon's layer l, downloaded and
// verified, and the name of the map it came from, when a map has one of
// l's content. A blob that fails to download or verify is a warning, as
// is a map that could not be read (report), and ok is false.
func (m *blobMaps) layer(l store.Layer) (_ store.Layer, from string, ok bool) {
	if m == nil {
		return store.Layer{}, "", false
	}
	<-m.ready
	for _, bm := range m.maps {
		cl, ok := bm.Lookup(l, m.compression)
		if !ok || !plausibleSize(cl.Size, l.Size) {
			continue
		}
		if f := m.start(bm, cl, m.sem); m.ok(f, bm, cl, l) {
			return cl, bm.Name, true
		}
	}
	return store.Layer{}, "", false
}

// ok waits for the download f of bm's blob cl of the daemon's layer l and
// tells whether it worked; a failure is kept for report.
func (m *blobMaps) ok(f *mapFetch, bm *imageio.BlobMap, cl, l store.Layer) bool {
	<-f.done
	if f.err == nil {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !f.reported {
		f.reported = true
		m.problems = append(m.problems, fmt.Sprintf("not using imgc's blob %s from %s for the builder's layer %s (the layer is compressed again instead): %v", cl.Digest, bm.Name, l.Digest, f.err))
	}
	return false
}

// problem keeps a problem, formatted, for report.
func (m *blobMaps) problem(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.problems = append(m.problems, fmt.Sprintf(format, args...))
}

// fetchBound is how long the download of a blob of size bytes, or the
// daemon's wait for it, may take.
func fetchBound(size int64) time.Duration {
	return fetchTimeout + time.Duration(max(size, 0)>>20)*time.Second
}

// report emits, as warnings, the problems not reported yet: maps that
// could not be read, blobs that failed.
func (m *blobMaps) report(emit func(engine.Event)) {
	if !m.loaded() {
		return
	}
	m.mu.Lock()
	problems := m.problems
	m.problems = nil
	m.mu.Unlock()
	for _, p := range problems {
		emit(engine.Event{Kind: "warning", Line: p})
	}
}

// reportEnd reports, as the build ends, what report has not said yet. A
// build can end before the maps are read (a registry slow to answer): it
// then waits for them at most wait, and past that says which caches
// were not checked.
func (m *blobMaps) reportEnd(emit func(engine.Event), wait time.Duration) {
	if m == nil {
		return
	}
	select {
	case <-m.ready:
		m.report(emit)
	case <-time.After(wait):
		emit(engine.Event{Kind: "warning", Line: fmt.Sprintf("the caches %s did not answer within %s: imgc could not check them, nor use its blobs beside them", strings.Join(m.names, ", "), wait)})
	}
}

// exportBlobMaps writes, beside each registry or local cache of exps
// (which the daemon exported), the map from the daemon's blobs of the
// exported targets' layers to imgc's. A map that cannot be written is a
// warning: the cache is there, and an import compresses its layers
// again.
func (e *Engine) exportBlobMaps(ctx context.Context, builds []*build, exps []engine.CacheExport) {
	for _, ce := range exps {
		if ce.Type != "registry" && ce.Type != "local" && ce.Type != "oci" {
			continue
		}
		if strings.EqualFold(ce.Attrs[noBlobMap], "false") {
			continue
		}
		var entries []imageio.BlobMapEntry
		seen := map[string]bool{}
		for _, b := range builds {
			for _, name := range b.targetBlobs.order {
				if !ce.Exports(name) {
					continue
				}
				for _, key := range b.targetBlobs.keys[name] {
					br, ok := b.rec.Blobs[key]
					if !ok || seen[key] {
						continue
					}
					seen[key] = true
					ent, ok := mapEntry(key, br)
					ent.Key = b.targetBlobs.layers[key]
					if ok && e.s.HasBlob(ent.Digest) {
						entries = append(entries, ent)
					}
				}
			}
		}
		if len(entries) == 0 {
			continue
		}
		emit := builds[0].prog.emit
		if err := imageio.ExportBlobMap(ctx, e.s, ce.Type, ce.Location(), ce.Attrs["tag"], entries); err != nil {
			emit(engine.Event{Kind: "warning", Line: fmt.Sprintf("%v; the cache itself is exported, and a build importing it compresses its layers again", err)})
			continue
		}
		emit(engine.Event{Kind: "export", Line: fmt.Sprintf("cache %s: imgc's blobs of %s", ce, count(len(entries), "layer"))})
	}
}

// count says n things: "1 layer", "2 layers".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// mapEntry is the blob map entry of the record's blob br under key (the
// daemon's digest and the compression).
func mapEntry(key string, br blobRecord) (imageio.BlobMapEntry, bool) {
	d, comp, ok := strings.Cut(key, " ")
	if !ok {
		return imageio.BlobMapEntry{}, false
	}
	builder, err1 := v1.NewHash(d)
	dg, err2 := v1.NewHash(br.Digest)
	diff, err3 := v1.NewHash(br.DiffID)
	if err1 != nil || err2 != nil || err3 != nil || br.Size <= 0 {
		return imageio.BlobMapEntry{}, false
	}
	return imageio.BlobMapEntry{Builder: builder, Compression: comp, Digest: dg, DiffID: diff, Size: br.Size, MediaType: types.MediaType(br.MediaType)}, true
}

// targetBlobs are the keys of build.rec.Blobs each target's image uses,
// in the order the targets were assembled, and imgc's cache key of each
// one's layer.
type targetBlobs struct {
	order  []string
	keys   map[string][]string
	layers map[string]ir.CacheKey
}

func (t *targetBlobs) add(target, key string, layer ir.CacheKey) {
	if t.keys == nil {
		t.keys, t.layers = map[string][]string{}, map[string]ir.CacheKey{}
	}
	if _, ok := t.keys[target]; !ok {
		t.order = append(t.order, target)
	}
	t.keys[target] = append(t.keys[target], key)
	t.layers[key] = layer
}
