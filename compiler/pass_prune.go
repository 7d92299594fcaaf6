package compiler

import (
	"fmt"

	"github.com/imgc-dev/imgc/ir"
)

// prune drops the targets no output needs: stages nothing reads from, and
// images --target did not select. It is safe because a dropped target
// contributes to no output's filesystem, config or key: outputs reach
// everything they read through DependsOn and their base, which prune
// follows. Required: building unused stages would waste work and report
// errors (missing files) in code the user did not ask to build.
func prune(s *state, p *ir.Plan) *ir.Plan {
	need := map[string]bool{}
	// Targets come after what they depend on, so one backward sweep
	// marks everything reachable from an output.
	for i := len(p.Targets) - 1; i >= 0; i-- {
		t := p.Targets[i]
		if !t.Output && !need[t.Name] {
			continue
		}
		need[t.Name] = true
		for _, d := range t.DependsOn {
			need[d] = true
		}
		if t.Base.Kind == ir.BaseTarget {
			need[t.Base.Target] = true
		}
	}
	out := &ir.Plan{Project: p.Project, Optimizations: p.Optimizations}
	for _, t := range p.Targets {
		if need[t.Name] {
			out.Targets = append(out.Targets, t)
			continue
		}
		if s.stage(t.Name) == nil {
			continue // made for an image reference of a dropped stage
		}
		if t.Kind == ir.KindImage {
			s.record(fmt.Sprintf("image `%s` is not a selected target: not built", t.Name), true, t.Origin)
		} else {
			s.record(fmt.Sprintf("stage `%s` is never used: not built", t.Name), true, t.Origin)
		}
	}
	return out
}
