package local

import (
	"slices"
	"sync"

	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// whyRuns says why a build runs each layer it runs, as plan would have
// said it (a layer's "done" event carries it): compared with the target's
// last recorded build, given which layers of this build ran. The record is
// read on a goroutine of its own, started when the first layer starts to
// run, since the record of a large context takes a tenth of a second to
// read that no step should wait for; a build that runs nothing reads it not
// at all.
type whyRuns struct {
	b *builder
	// all is the reason of every layer (--no-cache), when set.
	all  string
	once sync.Once
	done chan struct{}
	last map[string][]*ir.Layer
	mu   sync.Mutex
	ran  map[*ir.Layer]bool
}

// startWhy gets b ready to say why its layers run (see whyRuns).
func (b *builder) startWhy() {
	if b.o.NoCache {
		b.why = &whyRuns{all: "--no-cache"}
		return
	}
	b.why = &whyRuns{b: b, done: make(chan struct{}), ran: map[*ir.Layer]bool{}}
}

// running notes that l runs in this build, and starts reading the last
// build's record at the first such layer.
func (w *whyRuns) running(l *ir.Layer) {
	if w == nil || w.all != "" {
		return
	}
	w.mu.Lock()
	w.ran[l] = true
	w.mu.Unlock()
	w.once.Do(func() {
		go func() {
			defer close(w.done)
			w.last = lastBuild(w.b.s, w.b.p, w.b.imports)
		}()
	})
}

// reason is why the build runs l, a layer of t that running was told of
// ("" where it cannot tell).
func (w *whyRuns) reason(t *ir.Target, l *ir.Layer) string {
	switch {
	case w == nil:
		return ""
	case w.all != "":
		return w.all
	case w.b.forced[l] != "":
		return w.b.forced[l]
	}
	i := slices.Index(t.Layers, l)
	if i < 0 {
		return ""
	}
	<-w.done
	pl := previousLayer(w.last[store.RecordKey(t)], l, i)
	w.mu.Lock()
	parentRan := i > 0 && w.ran[t.Layers[i-1]]
	w.mu.Unlock()
	// As in statuses: a parent that hits but is not the last build's
	// parent changes this layer too.
	return ir.MissReasonIn(w.b.p, t, pl, l, parentRan || (i > 0 && pl != nil && pl.Parent != l.Parent))
}
