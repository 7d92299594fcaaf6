package model

// Dependencies returns the names of the stages s refers to (its base,
// copy sources and mount sources, inside layers too), in first-use order.
func Dependencies(s *Stage) []string {
	var deps []string
	seen := map[string]bool{}
	add := func(name string) {
		if name != "" && !seen[name] {
			seen[name] = true
			deps = append(deps, name)
		}
	}
	add(TargetName(s.From.Base))
	var walk func(steps []Step)
	walk = func(steps []Step) {
		for _, st := range steps {
			switch st := st.(type) {
			case *Run:
				for _, m := range st.Mounts {
					add(TargetName(m.From))
				}
			case *Copy:
				add(TargetName(st.From))
			case *Layer:
				walk(st.Steps)
			}
		}
	}
	walk(s.Steps)
	return deps
}

// TopoOrder returns the stages of c so that every stage comes after the
// stages it depends on, keeping declaration order where the graph allows.
// Stages in a cycle (which Check reports) come last, in declaration order.
func TopoOrder(c *Config) []*Stage {
	names := map[string]bool{}
	for _, s := range c.Stages {
		names[s.Name] = true
	}
	// done is by stage, doneName by name: a hand-made Config may repeat a
	// name, and that must not stop the loop.
	done := map[*Stage]bool{}
	doneName := map[string]bool{}
	var order []*Stage
	for len(order) < len(c.Stages) {
		progressed := false
		for _, s := range c.Stages {
			if done[s] {
				continue
			}
			ready := true
			for _, d := range Dependencies(s) {
				if names[d] && !doneName[d] {
					ready = false
					break
				}
			}
			if ready {
				done[s], doneName[s.Name] = true, true
				order = append(order, s)
				progressed = true
				break // restart so earlier-declared stages go first
			}
		}
		if !progressed {
			for _, s := range c.Stages {
				if !done[s] {
					done[s], doneName[s.Name] = true, true
					order = append(order, s)
				}
			}
		}
	}
	return order
}
