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
		st := s.cfg.Stage(t.Name)
		if st == nil || st.Config == nil {
			continue
		}
		below := descendantLayers(p, t.Name)
		for _, ins := range st.Config.Instructions {
			o := origin(ins.Range)
			var after []*ir.Layer
			for _, l := range t.Layers {
				if l.Origin.File == o.File && l.Origin.Line > o.Line {
					after = append(after, l)
				}
			}
			n := len(after) + len(below)
			if n == 0 || (ins.Name == "ENV" && (readsEnv(after, ins.Env) || len(below) > 0)) {
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

// readsEnv reports whether a run step of layers has one of names in its
// environment.
func readsEnv(layers []*ir.Layer, names []string) bool {
	for _, l := range layers {
		for _, step := range l.Steps {
			r, ok := step.(*ir.Run)
			if !ok {
				continue
			}
			for _, e := range r.Env {
				name, _, _ := strings.Cut(e, "=")
				if slices.Contains(names, name) {
					return true
				}
			}
		}
	}
	return false
}
