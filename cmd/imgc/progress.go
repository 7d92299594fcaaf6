package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/imgc-dev/imgc/engine"
)

// progress renders build events: plain lines for logs, a live view on a
// terminal, or one JSON object per line for tools.
type progress struct {
	e    *env
	mode string
	mu   sync.Mutex

	// tty state: the running layers and their last output lines.
	running map[string]*liveLayer
	order   []string
	drawn   int
	done    chan struct{}
	stopped chan struct{}

	// The header's counts: layers the build has, and those finished.
	start        time.Time
	steps, doneN int
}

type liveLayer struct {
	target, layer, source string
	start                 time.Time
	tail                  []string
}

func newProgress(e *env, mode string) *progress {
	if mode == "auto" {
		mode = "plain"
		if e.tty {
			mode = "tty"
		}
	}
	p := &progress{e: e, mode: mode, running: map[string]*liveLayer{}, start: time.Now()}
	if mode == "tty" {
		p.done = make(chan struct{})
		p.stopped = make(chan struct{})
		go p.ticker()
	}
	return p
}

func (p *progress) event(ev engine.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case ev.Kind == "plan":
		p.steps, p.doneN = ev.Steps, 0
	case ev.Kind == "cached" || (ev.Kind == "done" && ev.Layer != ""):
		p.doneN++
	case ev.Kind == "error" && p.e.ctx.Err() != nil:
		// Interrupted: the build's end says so once, not each target.
		return
	}
	switch p.mode {
	case "json":
		if ev.Kind == "plan" {
			// steps always, 0 too: how many layers the build will run.
			b, _ := json.Marshal(struct {
				Time  time.Time `json:"time"`
				Kind  string    `json:"kind"`
				Steps int       `json:"steps"`
			}{ev.Time, ev.Kind, ev.Steps})
			fmt.Fprintf(p.e.stderr, "%s\n", b)
			return
		}
		b, _ := json.Marshal(struct {
			Time     time.Time `json:"time"`
			Kind     string    `json:"kind"`
			Target   string    `json:"target,omitempty"`
			Layer    string    `json:"layer,omitempty"`
			Key      string    `json:"cache_key,omitempty"`
			Source   string    `json:"source,omitempty"`
			Line     string    `json:"line,omitempty"`
			Duration float64   `json:"duration_seconds,omitempty"`
			Steps    int       `json:"steps,omitempty"`
			Reason   string    `json:"reason,omitempty"`
		}{ev.Time, ev.Kind, ev.Target, ev.Layer, ev.Key.String(), relPath(ev.Origin.String()), ev.Line, ev.Duration.Seconds(), ev.Steps, ev.Reason})
		fmt.Fprintf(p.e.stderr, "%s\n", b)
	case "plain":
		p.plain(ev)
	case "quiet":
		if ev.Kind == "warning" {
			p.plain(ev)
		}
	case "tty":
		p.live(ev)
	}
}

// built ends a JSON progress stream with one "built" event per image: its
// digest, tags and each platform's image, as the result lines on stdout
// say them, for tools that read the stream only.
func (p *progress) built(res *engine.Result) {
	type platform struct {
		Platform string `json:"platform"`
		Digest   string `json:"digest"`
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, img := range res.Images {
		ev := struct {
			Time      time.Time  `json:"time"`
			Kind      string     `json:"kind"`
			Target    string     `json:"target"`
			Digest    string     `json:"digest"`
			Tags      []string   `json:"tags,omitempty"`
			Platforms []platform `json:"platforms,omitempty"`
		}{Time: time.Now(), Kind: "built", Target: img.Target, Digest: img.Digest, Tags: img.Tags}
		for _, pl := range img.Platforms {
			ev.Platforms = append(ev.Platforms, platform{pl.Platform.String(), pl.Digest})
		}
		b, _ := json.Marshal(ev)
		fmt.Fprintf(p.e.stderr, "%s\n", b)
	}
}

// failure ends a JSON progress stream with one "failed" event that carries
// everything the text diagnostic would: tools parse it instead.
func (p *progress) failure(err error) error {
	ev := struct {
		Time     time.Time `json:"time"`
		Kind     string    `json:"kind"`
		Target   string    `json:"target,omitempty"`
		Key      string    `json:"cache_key,omitempty"`
		Sources  []string  `json:"sources,omitempty"`
		ExitCode int       `json:"exit_code,omitempty"`
		Tail     []string  `json:"tail,omitempty"`
		Message  string    `json:"message"`
	}{Time: time.Now(), Kind: "failed", Message: registryError(err).Error()}
	if p.e.ctx.Err() != nil {
		ev.Message = "interrupted; the cache and earlier outputs are intact"
	}
	var se *engine.StepError
	if errors.As(err, &se) {
		ev.Target, ev.Key, ev.ExitCode, ev.Tail = se.Target, se.Key.String(), se.ExitCode, se.Tail
		for _, o := range se.Origins {
			ev.Sources = append(ev.Sources, relPath(o.String()))
		}
	}
	b, _ := json.Marshal(ev)
	p.mu.Lock()
	fmt.Fprintf(p.e.stderr, "%s\n", b)
	p.mu.Unlock()
	return exitError{exitFailed}
}

func (p *progress) plain(ev engine.Event) {
	w := p.e.stderr
	where := ""
	if s := relPath(ev.Origin.String()); s != "" {
		where = " (" + s + ")"
	}
	switch ev.Kind {
	case "target":
		fmt.Fprintf(w, "[%s] building%s\n", ev.Target, where)
	case "cached":
		from := ""
		if ev.Line != "" {
			from = " (from " + ev.Line + ")"
		}
		fmt.Fprintf(w, "[%s] CACHED %s %s%s\n", ev.Target, ev.Key.Short(), ev.Layer, from)
	case "start":
		fmt.Fprintf(w, "[%s] %s%s\n", ev.Target, ev.Layer, where)
	case "log":
		fmt.Fprintf(w, "[%s] | %s\n", ev.Target, ev.Line)
	case "done":
		if ev.Layer == "" {
			fmt.Fprintf(w, "[%s] done in %s\n", ev.Target, ev.Duration.Round(time.Millisecond))
			break
		}
		why := ""
		if ev.Reason != "" {
			why = " (miss: " + ev.Reason + ")"
		}
		fmt.Fprintf(w, "[%s] DONE %s %s in %s%s\n", ev.Target, ev.Key.Short(), ev.Layer, ev.Duration.Round(time.Millisecond), why)
	case "error":
		// The diagnostic that follows the build says what failed and
		// why; this line only marks where in the log.
		if ev.Layer == "" {
			fmt.Fprintf(w, "[%s] FAILED%s\n", ev.Target, where)
			break
		}
		fmt.Fprintf(w, "[%s] FAILED %s%s\n", ev.Target, ev.Layer, where)
	case "warning":
		fmt.Fprintf(w, "warning: %s\n", ev.Line)
	case "waiting":
		if ev.Line == engine.AnotherBuild {
			fmt.Fprintf(w, "[%s] %s%s waiting for %s\n", ev.Target, ev.Layer, where, ev.Line)
			break
		}
		if ev.Layer != "" {
			fmt.Fprintf(w, "[%s] %s%s waiting for %q\n", ev.Target, ev.Layer, where, ev.Line)
			break
		}
		fmt.Fprintf(w, "[%s] waiting for %q\n", ev.Target, ev.Line)
	case "plan":
	case "export":
		what, dest, _ := strings.Cut(ev.Line, ":")
		switch {
		case ev.Target == "":
			fmt.Fprintf(w, "exported %s\n", ev.Line)
		case what == "name":
			fmt.Fprintf(w, "[%s] naming %s\n", ev.Target, dest)
		case what == "push":
			fmt.Fprintf(w, "[%s] pushed %s\n", ev.Target, dest)
		case what == "mount":
			fmt.Fprintf(w, "[%s] mounted %s\n", ev.Target, dest)
		default:
			fmt.Fprintf(w, "[%s] exported %s\n", ev.Target, ev.Line)
		}
	default:
		if ev.Line != "" {
			fmt.Fprintf(w, "[%s] %s\n", ev.Target, ev.Line)
		}
	}
}

// live keeps finished lines above and redraws the running layers below.
func (p *progress) live(ev engine.Event) {
	id := ev.Target + "\x00" + ev.Layer
	switch ev.Kind {
	case "start":
		p.running[id] = &liveLayer{target: ev.Target, layer: ev.Layer, source: relPath(ev.Origin.String()), start: ev.Time}
		p.order = append(p.order, id)
	case "log":
		if l := p.running[id]; l != nil {
			l.tail = append(l.tail, ev.Line)
			if len(l.tail) > 4 {
				l.tail = l.tail[len(l.tail)-4:]
			}
		}
	case "done", "cached", "error":
		delete(p.running, id)
		p.clear()
		p.plain(ev)
	default:
		p.clear()
		p.plain(ev)
	}
	p.redraw()
}

func (p *progress) clear() {
	if p.drawn > 0 {
		fmt.Fprintf(p.e.stderr, "\x1b[%dA\x1b[J", p.drawn)
		p.drawn = 0
	}
}

// header is BuildKit's first line: elapsed time and layers finished.
func (p *progress) header() string {
	return fmt.Sprintf("[+] Building %.1fs (%d/%d)", time.Since(p.start).Seconds(), p.doneN, max(p.steps, p.doneN))
}

func (p *progress) redraw() {
	p.clear()
	var b strings.Builder
	fmt.Fprintf(&b, "\x1b[1;34m%s\x1b[0m\n", p.header())
	n := 1
	kept := p.order[:0]
	for _, id := range p.order {
		l := p.running[id]
		if l == nil {
			continue
		}
		kept = append(kept, id)
		fmt.Fprintf(&b, "\x1b[1m[%s] %s\x1b[0m  %s  %.1fs\n", l.target, l.layer, l.source, time.Since(l.start).Seconds())
		n++
		for _, t := range l.tail {
			if len(t) > 120 {
				t = t[:120]
			}
			fmt.Fprintf(&b, "  \x1b[2m%s\x1b[0m\n", t)
			n++
		}
	}
	p.order = kept
	fmt.Fprint(p.e.stderr, b.String())
	p.drawn = n
}

func (p *progress) ticker() {
	defer close(p.stopped)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
			p.mu.Lock()
			p.redraw()
			p.mu.Unlock()
		}
	}
}

func (p *progress) close() {
	if p.done != nil {
		close(p.done)
		<-p.stopped
		p.mu.Lock()
		p.clear()
		state := "FINISHED"
		if p.e.ctx.Err() != nil {
			state = "INTERRUPTED"
		}
		fmt.Fprintf(p.e.stderr, "%s %s\n", p.header(), state)
		p.mu.Unlock()
	}
}
