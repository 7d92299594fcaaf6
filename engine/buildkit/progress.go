package buildkit

import (
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/client"
	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	digest "github.com/opencontainers/go-digest"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/ir"
)

// progress maps the solve's status to engine events: each vertex is named
// after its layer (see lowering.name), so a vertex's start, cache hit, logs
// and error are the layer's.
type progress struct {
	b  *build
	mu sync.Mutex
	// names maps a vertex digest to what it stands for.
	names map[digest.Digest]vertexRef
	// layers is each layer's state in this build.
	layers map[*ir.Layer]*layerState
	// failed is the layer whose vertex reported an error.
	failed    *ir.Layer
	failedRef vertexRef
}

type layerState struct {
	target string
	seen   map[digest.Digest]bool
	// hit are the vertexes the daemon reported as cache hits: a later
	// start of one (without inputs) is the daemon fetching and unpacking
	// the hit's layers from an imported cache, not a run.
	hit map[digest.Digest]bool
	// completed are the vertexes that finished without an error.
	completed map[digest.Digest]bool
	ran       bool
	started   time.Time
	done      time.Time
	tail      []string
	partial   string
	emitted   bool
}

func newProgress(b *build) *progress {
	return &progress{b: b, names: map[digest.Digest]vertexRef{}, layers: map[*ir.Layer]*layerState{}}
}

func (pr *progress) emit(e engine.Event) {
	if pr.b.o.Progress == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	pr.b.o.Progress(e)
}

func (pr *progress) state(ref vertexRef) *layerState {
	ls := pr.layers[ref.layer]
	if ls == nil {
		ls = &layerState{target: ref.target, seen: map[digest.Digest]bool{}, hit: map[digest.Digest]bool{}, completed: map[digest.Digest]bool{}}
		pr.layers[ref.layer] = ls
	}
	return ls
}

// read consumes the status channel until it closes.
func (pr *progress) read(ch chan *client.SolveStatus) {
	for s := range ch {
		pr.mu.Lock()
		for _, v := range s.Vertexes {
			ref, ok := pr.b.lw.vertexes[v.Name]
			if !ok {
				continue
			}
			pr.names[v.Digest] = ref
			ls := pr.state(ref)
			ls.seen[v.Digest] = true
			l := ref.layer
			if v.Cached {
				ls.hit[v.Digest] = true
			}
			if v.Started != nil && !v.Cached && !ls.hit[v.Digest] && !ls.ran {
				ls.ran = true
				ls.started = *v.Started
				pr.emit(engine.Event{Kind: "start", Target: ref.target, Layer: l.Name, Key: l.Key, Origin: l.Origin})
			}
			if v.Completed != nil && v.Completed.After(ls.done) {
				ls.done = *v.Completed
			}
			if v.Completed != nil && v.Error == "" {
				ls.completed[v.Digest] = true
			}
			if v.Error != "" && pr.failed == nil && !strings.Contains(v.Error, "context canceled") {
				pr.failed, pr.failedRef = l, ref
			}
		}
		for _, lg := range s.Logs {
			ref, ok := pr.names[lg.Vertex]
			if !ok {
				continue
			}
			ls := pr.state(ref)
			data := ls.partial + string(lg.Data)
			lines := strings.Split(data, "\n")
			ls.partial = lines[len(lines)-1]
			for _, line := range lines[:len(lines)-1] {
				line = strings.TrimSuffix(line, "\r")
				ls.tail = append(ls.tail, line)
				if len(ls.tail) > 20 {
					ls.tail = ls.tail[len(ls.tail)-20:]
				}
				pr.emit(engine.Event{Kind: "log", Target: ref.target, Layer: ref.layer.Name, Key: ref.layer.Key, Origin: ref.layer.Origin, Line: line})
			}
		}
		pr.mu.Unlock()
	}
}

// finish reports, once the solve of t is over, each layer that this solve
// reused ("cached") or made ("done"). After a solve that failed or was
// interrupted (ok false), only a layer every vertex of which the daemon
// finished, or reported as a cache hit, is reported: one it was still
// running, or had not reached, is neither.
func (pr *progress) finish(ok bool) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for _, pt := range pr.b.p.Targets {
		for _, l := range pt.Layers {
			pr.finishLayer(l, ok)
		}
	}
}

func (pr *progress) finishLayer(l *ir.Layer, ok bool) {
	ls := pr.layers[l]
	if ls == nil || ls.emitted || l == pr.failed {
		return
	}
	if !ok {
		for d := range ls.seen {
			if !ls.completed[d] && !ls.hit[d] {
				return
			}
		}
	}
	ls.emitted = true
	if !ls.ran {
		pr.emit(engine.Event{Kind: "cached", Target: ls.target, Layer: l.Name, Key: l.Key, Origin: l.Origin})
		return
	}
	d := ls.done.Sub(ls.started)
	if d < 0 {
		d = 0
	}
	pr.emit(engine.Event{Kind: "done", Target: ls.target, Layer: l.Name, Key: l.Key, Origin: l.Origin, Duration: d, Reason: pr.b.reason(l)})
}

// seen tells whether the builder made or reused l in this build (its
// vertexes showed in the progress).
func (pr *progress) seen(l *ir.Layer) bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	ls := pr.layers[l]
	return ls != nil && len(ls.seen) > 0
}

// cached tells whether the builder reused every vertex of l in this build.
func (pr *progress) cached(l *ir.Layer) bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	ls := pr.layers[l]
	return ls != nil && !ls.ran
}

// stepError turns a failed solve into a StepError at the failing layer.
func (pr *progress) stepError(t *ir.Target, err error) error {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	se := &engine.StepError{Target: t.Name, Err: errors.New(cleanError(err))}
	var ee *gwpb.ExitError
	if errors.As(err, &ee) {
		se.ExitCode = int(ee.ExitCode)
	}
	if l := pr.failed; l != nil {
		se.Target = pr.failedRef.target
		se.Layer, se.Key = l.Name, l.Key
		se.Origins = []ir.Origin{pr.failedRef.origin}
		if se.Origins[0].File == "" {
			se.Origins = []ir.Origin{l.Origin}
		}
		if ls := pr.layers[l]; ls != nil {
			se.Tail = append([]string(nil), ls.tail...)
			if ls.partial != "" {
				se.Tail = append(se.Tail, ls.partial)
			}
		}
	}
	return se
}

// cleanError is the daemon's message without gRPC's wrapping.
func cleanError(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "desc = "); i >= 0 {
		msg = msg[i+len("desc = "):]
	}
	return msg
}
