package ir

// What a plan says about the order of its targets and which layers must
// run, in one place: engines schedule with these, and Check verifies the
// order they rely on.

// Reads names the targets a layer's steps read, in step order: a copy's
// `from` and every mount's `from` (bind mounts of a target's files, cache
// mounts seeded from one). Such a target must be built before the layer
// runs, and a layer reading a target that rebuilds on every build rebuilds
// too (see ForcedLayers).
func (l *Layer) Reads() []string {
	var out []string
	for _, st := range l.Steps {
		switch st := st.(type) {
		case *Copy:
			if st.FromTarget != "" {
				out = append(out, st.FromTarget)
			}
		case *Run:
			for _, m := range st.Mounts {
				if m.FromTarget != "" {
					out = append(out, m.FromTarget)
				}
			}
		}
	}
	return out
}

// Dependencies names the targets t needs, each once: its base target
// first, then DependsOn (which names every target its layers read).
func (t *Target) Dependencies() []string {
	var out []string
	seen := map[string]bool{}
	if t.Base.Kind == BaseTarget {
		out = append(out, t.Base.Target)
		seen[t.Base.Target] = true
	}
	for _, d := range t.DependsOn {
		if !seen[d] {
			out = append(out, d)
			seen[d] = true
		}
	}
	return out
}

// ContextDir is the build context directory of the plan's copy and add
// steps (the first one that names one), or "".
func (p *Plan) ContextDir() string {
	for _, t := range p.Targets {
		for _, l := range t.Layers {
			for _, st := range l.Steps {
				switch st := st.(type) {
				case *Copy:
					if st.Context != "" {
						return st.Context
					}
				case *Add:
					if st.Context != "" {
						return st.Context
					}
				}
			}
		}
	}
	return ""
}

// ForcedLayers finds the layers of p that run again on every build,
// whatever the cache holds, and says why. Keys do not depend on what a
// parent layer produced, so once a `cache = false` layer ran again the
// cached results after it are stale though their keys still match: every
// later layer of its target, and every layer of a target built on that
// target or reading it (from the first layer that reads it on), runs
// again too. A `cache = false` layer itself is forced with the reason
// NoCache.
func (p *Plan) ForcedLayers() map[*Layer]string {
	forced := map[*Layer]string{}
	volatile := map[string]bool{} // targets that rebuild a layer on every build
	for _, t := range p.Targets {
		why := ""
		if t.Base.Kind == BaseTarget && volatile[t.Base.Target] {
			why = ForcedByNoCache(BaseRebuilt(p.targetKind(t.Base.Target), t.Base.Target))
		}
		for _, l := range t.Layers {
			if why != "" {
				forced[l] = why
				why = ParentRebuiltNoCache
				continue
			}
			if l.NoCache {
				forced[l] = NoCache
				why = ParentRebuiltNoCache
				continue
			}
			for _, from := range l.Reads() {
				if volatile[from] {
					forced[l] = ForcedByNoCache(SourceRebuilt(p.targetKind(from), from))
					why = ParentRebuiltNoCache
					break
				}
			}
		}
		volatile[t.Name] = why != ""
	}
	return forced
}

// targetKind is the kind of the target called name, or "" when p has none.
func (p *Plan) targetKind(name string) TargetKind {
	if t := p.Target(name); t != nil {
		return t.Kind
	}
	return ""
}

// NeededTargets finds the targets a build must build, given which layers
// will run rather than be reused (runs): the output targets, and what a
// needed target is built on or reads in a layer that runs. A stage that
// only feeds layers the cache holds is skipped. A plan without output
// targets needs every target: it would build nothing otherwise.
func (p *Plan) NeededTargets(runs func(*Layer) bool) map[string]bool {
	needed := map[string]bool{}
	hasOutput := false
	for _, t := range p.Targets {
		hasOutput = hasOutput || t.Output
	}
	if !hasOutput {
		for _, t := range p.Targets {
			needed[t.Name] = true
		}
		return needed
	}
	for i := len(p.Targets) - 1; i >= 0; i-- {
		t := p.Targets[i]
		if !t.Output && !needed[t.Name] {
			continue
		}
		needed[t.Name] = true
		if t.Base.Kind == BaseTarget {
			// Assembling t needs the base's config and layer blobs.
			needed[t.Base.Target] = true
		}
		explained := map[string]bool{t.Base.Target: true}
		for _, l := range t.Layers {
			reads := l.Reads()
			for _, from := range reads {
				explained[from] = true
			}
			if len(reads) > 0 && runs(l) {
				for _, from := range reads {
					needed[from] = true
				}
			}
		}
		// A dependency the layers do not explain is built, to be safe.
		for _, dep := range t.DependsOn {
			if !explained[dep] {
				needed[dep] = true
			}
		}
	}
	return needed
}

// StoreNames are the names an output target is stored under: its tags, or
// its name when it has none.
func (t *Target) StoreNames() []string {
	if len(t.Tags) > 0 {
		return t.Tags
	}
	return []string{t.Name}
}

// RunsOn tells, by target, whether a run step runs on its filesystem: one
// of its own, or of a target built on it. (A base of another platform is
// only an error where one does.)
func (p *Plan) RunsOn() map[string]bool {
	runs := map[string]bool{}
	for i := len(p.Targets) - 1; i >= 0; i-- {
		t := p.Targets[i]
		for _, l := range t.Layers {
			for _, st := range l.Steps {
				if _, ok := st.(*Run); ok {
					runs[t.Name] = true
				}
			}
		}
		if t.Base.Kind == BaseTarget && runs[t.Name] {
			runs[t.Base.Target] = true
		}
	}
	return runs
}
