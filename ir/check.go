package ir

import (
	"errors"
	"fmt"
)

// Check verifies a plan's invariants and returns every violation: unique
// target names; build order respecting Dependencies (base targets and
// DependsOn) and what each layer Reads, which engines rely on to schedule
// without deadlock; every layer has steps; each layer's parent is the
// previous layer's key (or the base key); and, when keys is true, every key
// recomputes from its parent and inputs and a base target's key is
// TargetBaseKey of that target. The compiler runs it between passes in
// tests and engines before they build (without keys: they trust them); a
// violation is a compiler bug, never a user's mistake.
func Check(p *Plan, keys bool) error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	pos := make(map[string]int, len(p.Targets))
	for i, t := range p.Targets {
		if t == nil {
			fail("target %d is nil", i)
			continue
		}
		if _, dup := pos[t.Name]; dup {
			fail("target %q appears twice", t.Name)
		}
		pos[t.Name] = i
	}
	for i, t := range p.Targets {
		if t == nil {
			continue
		}
		for _, d := range t.Dependencies() {
			j, ok := pos[d]
			switch {
			case !ok:
				fail("target %q depends on %q, which is not in the plan", t.Name, d)
			case j >= i:
				fail("target %q is built before %q, which it depends on", t.Name, d)
			}
		}
		if keys {
			if t.Base.Key.IsZero() {
				fail("target %q has no base key", t.Name)
			}
			if t.Base.Kind == BaseTarget {
				if j, ok := pos[t.Base.Target]; ok {
					if want := TargetBaseKey(p.Targets[j].Key(), p.Targets[j].Config); want != t.Base.Key {
						fail("target %q: base key %s is not %s, from the key and config of %q", t.Name, t.Base.Key, want, t.Base.Target)
					}
				}
			}
		}
		parent := t.Base.Key
		for j, l := range t.Layers {
			if l == nil {
				fail("target %q: layer %d is nil", t.Name, j)
				continue
			}
			if len(l.Steps) == 0 {
				fail("target %q: layer %d (%s) has no steps", t.Name, j, l.Name)
			}
			// Layers wait for the targets they read: one that came later
			// could wait for a target waiting for it.
			for _, from := range l.Reads() {
				if k, ok := pos[from]; !ok || k >= i {
					fail("target %q: layer %d (%s) reads %q, which does not come before it in the plan", t.Name, j, l.Name, from)
				}
			}
			if keys {
				if l.Parent != parent {
					fail("target %q: layer %d (%s) has parent %s, want %s", t.Name, j, l.Name, l.Parent, parent)
				}
				if want := LayerKey(l.Parent, l.Inputs); l.Key != want {
					fail("target %q: layer %d (%s) has key %s, its inputs give %s", t.Name, j, l.Name, l.Key, want)
				}
			}
			parent = l.Key
		}
	}
	return errors.Join(errs...)
}
