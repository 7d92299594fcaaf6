package compiler

import (
	"fmt"

	"reflect"

	"github.com/imgc-dev/imgc/ir"
)

// dedupe builds identical stages once: a stage that is not an output and
// whose filesystem key equals an earlier target's (same platform) is
// dropped, and what read from it reads from the earlier one. It is safe
// because equal keys mean equal filesystems, and keys do not contain
// target names, so no other key changes. A stage used as a base also
// passes on its config, so it is merged only when its config and base
// equal the other's too.
func dedupe(s *state, p *ir.Plan) *ir.Plan {
	usedAsBase := map[string]bool{}
	for _, t := range p.Targets {
		if t.Base.Kind == ir.BaseTarget {
			usedAsBase[t.Base.Target] = true
		}
	}
	first := map[ir.CacheKey]*ir.Target{}
	rename := map[string]string{}
	var kept []*ir.Target
	for _, t := range p.Targets {
		k := t.Key()
		orig, dup := first[k]
		if dup && !t.Output && s.level(t.Name) != LevelNone && orig.Platform == t.Platform &&
			(!usedAsBase[t.Name] || (reflect.DeepEqual(orig.Config, t.Config) && sameBase(orig.Base, t.Base))) {
			rename[t.Name] = orig.Name
			s.record(fmt.Sprintf("%s `%s` is identical to %s `%s`: built once", t.Kind, t.Name, orig.Kind, orig.Name), true, t.Origin, orig.Origin)
			continue
		}
		if !dup {
			first[k] = t
		}
		kept = append(kept, t)
	}
	if len(rename) == 0 {
		return p
	}
	out := &ir.Plan{Project: p.Project, Optimizations: p.Optimizations}
	for _, t := range kept {
		out.Targets = append(out.Targets, redirect(t, rename))
	}
	return out
}

func sameBase(a, b ir.Base) bool {
	return a.Kind == b.Kind && a.Ref == b.Ref && a.Digest == b.Digest && a.Target == b.Target && a.Key == b.Key
}

// redirect returns t reading from renamed targets' replacements, copying
// only what changes.
func redirect(t *ir.Target, rename map[string]string) *ir.Target {
	to := func(name string) (string, bool) {
		n, ok := rename[name]
		return n, ok
	}
	changed := false
	nt := *t
	if n, ok := to(t.Base.Target); ok && t.Base.Kind == ir.BaseTarget {
		nt.Base.Target, changed = n, true
	}
	deps := map[string]bool{}
	for _, d := range t.DependsOn {
		if n, ok := to(d); ok {
			d, changed = n, true
		}
		deps[d] = true
	}
	if !changed && !readsRenamed(t, rename) {
		return t
	}
	nt.DependsOn = nil
	for _, d := range t.DependsOn {
		if n, ok := to(d); ok {
			d = n
		}
		if deps[d] {
			nt.DependsOn = append(nt.DependsOn, d)
			deps[d] = false
		}
	}
	nt.Layers = make([]*ir.Layer, len(t.Layers))
	for i, l := range t.Layers {
		nl := *l
		nl.Steps = make([]ir.Step, len(l.Steps))
		for j, step := range l.Steps {
			nl.Steps[j] = redirectStep(step, rename)
		}
		nt.Layers[i] = &nl
	}
	return &nt
}

func readsRenamed(t *ir.Target, rename map[string]string) bool {
	for _, l := range t.Layers {
		for _, step := range l.Steps {
			if redirectStep(step, rename) != step {
				return true
			}
		}
	}
	return false
}

func redirectStep(step ir.Step, rename map[string]string) ir.Step {
	switch st := step.(type) {
	case *ir.Copy:
		if n, ok := rename[st.FromTarget]; ok {
			nc := *st
			nc.FromTarget = n
			return &nc
		}
	case *ir.Run:
		var mounts []ir.Mount
		for i, m := range st.Mounts {
			if n, ok := rename[m.FromTarget]; ok && m.FromTarget != "" {
				if mounts == nil {
					mounts = append([]ir.Mount(nil), st.Mounts...)
				}
				mounts[i].FromTarget = n
			}
		}
		if mounts != nil {
			nr := *st
			nr.Mounts = mounts
			return &nr
		}
	}
	return step
}
