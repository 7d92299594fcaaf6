package compiler

import (
	"fmt"
	"strings"

	"github.com/imgc-dev/imgc/ir"
)

// parallel records which targets the runtime builds at the same time: it
// starts every target once the targets it depends on (ir.Target.DependsOn,
// which includes its base) are built, so targets at the same depth of the
// dependency graph run in parallel, up to the runtime's job limit. It is
// safe because it only records; targets that depend on none of each other
// share no filesystem and no config.
func parallel(s *state, p *ir.Plan) *ir.Plan {
	depth := map[string]int{}
	var waves [][]*ir.Target
	for _, t := range p.Targets { // build order: dependencies first
		d := 0
		for _, dep := range t.DependsOn {
			d = max(d, depth[dep]+1)
		}
		depth[t.Name] = d
		for len(waves) <= d {
			waves = append(waves, nil)
		}
		waves[d] = append(waves[d], t)
	}
	for _, wave := range waves {
		if len(wave) < 2 {
			continue
		}
		var names []string
		var origins []ir.Origin
		for _, t := range wave {
			names = append(names, fmt.Sprintf("%s `%s`", t.Kind, t.Name))
			origins = append(origins, t.Origin)
		}
		list := strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
		s.record(fmt.Sprintf("%s depend on none of each other: built in parallel", list), true, origins...)
	}
	return p
}
