package local

import (
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// whyRuns says why a build runs each layer it runs, as plan would have said
// it (a layer's "done" event carries it). The cache is read as the build
// found it, before any of its layers landed there; the last build's record
// is read and compared on a goroutine of its own, since the record of a
// large context takes a tenth of a second to read that no step should wait
// for: a layer's "done" event waits for it, by then long finished.
type whyRuns struct {
	// all is the reason of every layer (--no-cache), when set.
	all     string
	done    chan struct{}
	reasons map[ir.CacheKey]ir.Status
}

// startWhy starts working out why the layers of b's needed targets that
// will run do (see whyRuns). A build that runs no layer reads nothing.
func (b *builder) startWhy() {
	if b.o.NoCache {
		b.why = &whyRuns{all: "--no-cache"}
		return
	}
	type found struct {
		e        store.Entry
		from     string
		ok, gone bool
	}
	seen := map[*ir.Layer]found{}
	runs := false
	for _, t := range b.p.Targets {
		if !b.needed[t.Name] {
			continue
		}
		for _, l := range t.Layers {
			e, ok, gone := b.s.LookupKey(l.Key)
			f := found{e: e, ok: ok, gone: gone}
			if !ok {
				if h, hit := b.imports.find(l.Key, nil, l); hit {
					f = found{e: h.rec.Entry, from: h.src.Name, ok: true}
				}
			}
			seen[l] = f
			runs = runs || !f.ok || l.NoCache || b.forced[l] != ""
		}
	}
	w := &whyRuns{done: make(chan struct{})}
	b.why = w
	if !runs {
		close(w.done)
		return
	}
	lookup := func(l *ir.Layer) (store.Entry, string, bool, bool) {
		f := seen[l]
		return f.e, f.from, f.ok, f.gone
	}
	go func() {
		defer close(w.done)
		w.reasons = statuses(b.p, lastBuild(b.s, b.p, b.imports), lookup, b.forced, b.needed)
	}()
}

// reason is why the build runs l ("" where it cannot tell).
func (w *whyRuns) reason(l *ir.Layer) string {
	if w == nil {
		return ""
	}
	if w.all != "" {
		return w.all
	}
	<-w.done
	return w.reasons[l.Key].Reason
}
