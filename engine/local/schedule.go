package local

import (
	"context"
	"errors"
	"fmt"

	"github.com/imgc-dev/imgc/ir"
)

// errAbandoned stops a target that waited for another one which failed,
// or whose wait the build's cancellation ended. The failing target has
// reported its own error, so this one is never shown.
var errAbandoned = errors.New("abandoned: a target it reads failed or the build was cancelled")

// slot is a target's share of engine.BuildOptions.Parallelism. A target gives its
// slot back while it waits for another target, which may need it: with
// Parallelism 1, holding it would deadlock. Only the target's own
// goroutine uses its slot.
type slot struct {
	sem  chan struct{}
	held bool
}

func (s *slot) acquire(ctx context.Context) error {
	if s.held {
		return nil
	}
	select {
	case s.sem <- struct{}{}:
		s.held = true
		return nil
	case <-ctx.Done():
		return errAbandoned
	}
}

func (s *slot) release() {
	if s.held {
		<-s.sem
		s.held = false
	}
}

// awaitTarget waits until the target name is built, giving up sl (when
// not nil) meanwhile and taking it back before it returns. It returns
// errAbandoned when name failed or the build was cancelled. A target the
// build skips (see neededTargets) is not waited for: only layers the
// cache holds read it.
func (b *builder) awaitTarget(ctx context.Context, name string, sl *slot) error {
	ch, ok := b.done[name]
	if !ok {
		return fmt.Errorf("reading %s: the plan holds no such target", name)
	}
	if !b.needed[name] {
		return nil
	}
	select {
	case <-ch:
	default:
		if sl != nil {
			sl.release()
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return errAbandoned
		}
		if sl != nil {
			if err := sl.acquire(ctx); err != nil {
				return err
			}
		}
	}
	if b.result(name) == nil {
		return errAbandoned
	}
	return nil
}

// startDeps names the targets t waits for before it starts: its base
// target, and any target it depends on that none of its layers reads (its
// layers wait for those they read themselves).
func startDeps(t *ir.Target) []string {
	read := map[string]bool{}
	for _, l := range t.Layers {
		for _, from := range l.Reads() {
			read[from] = true
		}
	}
	var out []string
	for _, dep := range t.Dependencies() {
		if (t.Base.Kind == ir.BaseTarget && dep == t.Base.Target) || !read[dep] {
			out = append(out, dep)
		}
	}
	return out
}
