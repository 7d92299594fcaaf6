package compiler

import (
	"fmt"
	"slices"
	"strings"

	"github.com/imgc-dev/imgc/ir"
)

// metadata records what keeping image metadata out of the layer chain is
// worth. imgc never keys a layer on image config (config blocks, and the
// LABEL, EXPOSE, CMD, ENTRYPOINT, VOLUME, STOPSIGNAL, HEALTHCHECK and
// MAINTAINER instructions and late ENVs the Dockerfile importer puts
// there), so this pass changes nothing: it names each such Dockerfile
// instruction that sits before layer steps, with how many layers `docker
// build` (whose classic builder chains every instruction into the cache
// key of all later ones) would have invalidated when it changes. It is
// safe because it only records. An ENV is named only when no later run
// step of the stage sees the variable and no stage is built on this one
// (whose layers key on the env it passes on, ir.TargetBaseKey): otherwise
// changing it does invalidate layers, in imgc too.
func metadata(s *state, p *ir.Plan) *ir.Plan {
	for _, t := range p.Targets {
		if s.level(t.Name) == LevelNone {
			continue
		}
		st := s.stage(t.Name)
		if st == nil || st.Config == nil || len(st.Config.Instructions) == 0 {
			continue
		}
		below := descendantLayers(p, t.Name)
		later := laterLayersOf(t.Layers)
		for _, ins := range st.Config.Instructions {
			o := ir.OriginOf(ins.Range)
			n := later.count(o) + len(below)
			if n == 0 || (ins.Name == "ENV" && (later.readEnv(o, ins.Env) || len(below) > 0)) {
				continue
			}
			if ins.Name == "ONBUILD" {
				continue // triggers run in the stages built on it
			}
			layers := "layers"
			if n == 1 {
				layers = "layer"
			}
			s.record(fmt.Sprintf("%s at %s kept out of the layer chain: changing it no longer invalidates %d %s", ins.Name, lineOf(o), n, layers), true, o)
		}
	}
	return p
}

// laterLayers answers, for a source line, how many of a target's layers
// come from later lines of its file and whether one of their run steps
// reads a variable, each in log time: asked per instruction by scanning
// the layers, it took time n² on a Dockerfile of n instructions.
type laterLayers struct {
	lines   map[string][]int          // file -> sorted lines of its layers
	lastRun map[string]map[string]int // file -> variable -> last line of a run step reading it
}

func laterLayersOf(layers []*ir.Layer) laterLayers {
	ll := laterLayers{lines: map[string][]int{}, lastRun: map[string]map[string]int{}}
	for _, l := range layers {
		f, line := l.Origin.File, l.Origin.Line
		ll.lines[f] = append(ll.lines[f], line)
		for _, step := range l.Steps {
			r, ok := step.(*ir.Run)
			if !ok {
				continue
			}
			for _, e := range r.Env {
				name, _, _ := strings.Cut(e, "=")
				if ll.lastRun[f] == nil {
					ll.lastRun[f] = map[string]int{}
				}
				ll.lastRun[f][name] = max(ll.lastRun[f][name], line)
			}
		}
	}
	for _, lines := range ll.lines {
		slices.Sort(lines)
	}
	return ll
}

// count is how many layers come from lines of o's file after o's.
func (ll laterLayers) count(o ir.Origin) int {
	lines := ll.lines[o.File]
	i, _ := slices.BinarySearch(lines, o.Line+1)
	return len(lines) - i
}

// readEnv reports whether a run step of a layer after o has one of names
// in its environment.
func (ll laterLayers) readEnv(o ir.Origin, names []string) bool {
	for _, name := range names {
		if last, ok := ll.lastRun[o.File][name]; ok && last > o.Line {
			return true
		}
	}
	return false
}

// descendantLayers lists the layers of every target built on name, however
// indirectly (docker build re-runs them when name's config changes).
func descendantLayers(p *ir.Plan, name string) []*ir.Layer {
	on := map[string]bool{name: true}
	var out []*ir.Layer
	for _, t := range p.Targets { // build order: bases come first
		if t.Base.Kind == ir.BaseTarget && on[t.Base.Target] {
			on[t.Name] = true
			out = append(out, t.Layers...)
		}
	}
	return out
}
