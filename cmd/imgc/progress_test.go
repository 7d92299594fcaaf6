package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/imgc-dev/imgc/engine"
)

// TestProgressTTYHeader: the live view starts with BuildKit's header,
// counting cached and built layers against the build's total, and ends
// with it, FINISHED.
func TestProgressTTYHeader(t *testing.T) {
	var buf bytes.Buffer
	e := &env{ctx: context.Background(), stdout: &bytes.Buffer{}, stderr: &buf, tty: true}
	p := newProgress(e, "auto")
	if p.mode != "tty" {
		t.Fatalf("mode %q on a terminal, want tty", p.mode)
	}
	now := time.Now()
	for _, ev := range []engine.Event{
		{Kind: "plan", Steps: 3},
		{Kind: "target", Target: "app"},
		{Kind: "cached", Target: "app", Layer: "copy a"},
		{Kind: "start", Target: "app", Layer: "run b", Time: now},
		{Kind: "done", Target: "app", Layer: "run b", Duration: time.Second},
		{Kind: "waiting", Target: "web", Line: "app"},
		{Kind: "export", Target: "app", Line: "name:localhost/app:1"},
	} {
		p.event(ev)
	}
	p.close()
	out := buf.String()
	for _, want := range []string{"[+] Building", "(1/3)", `[web] waiting for "app"`, "[app] naming localhost/app:1"} {
		if !strings.Contains(out, want) {
			t.Errorf("tty progress lacks %q:\n%s", want, out)
		}
	}
	last := out[strings.LastIndex(strings.TrimSuffix(out, "\n"), "\n")+1:]
	if !strings.Contains(last, "[+] Building ") || !strings.Contains(last, "(2/3) FINISHED") {
		t.Errorf("last line %q, want the header with (2/3) FINISHED", last)
	}
}

// TestProgressInterruptedQuiet: once the build is cancelled, the errors
// each running target reports are not printed: the build's end says it
// once.
func TestProgressInterruptedQuiet(t *testing.T) {
	var buf bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := newProgress(&env{ctx: ctx, stderr: &buf}, "plain")
	p.event(engine.Event{Kind: "error", Target: "app", Line: "building app: context canceled"})
	p.close()
	if buf.Len() != 0 {
		t.Errorf("printed %q after an interrupt", buf.String())
	}
}

// A JSON plan event says how many steps the build will show, 0 too: a
// reader counts progress from it.
func TestProgressJSONPlanStepsZero(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&env{ctx: context.Background(), stderr: &buf}, "json")
	p.event(engine.Event{Kind: "plan"})
	if !strings.Contains(buf.String(), `"kind":"plan","steps":0`) {
		t.Errorf("JSON progress %q, want steps 0", buf.String())
	}
}
