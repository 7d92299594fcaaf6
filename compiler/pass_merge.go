package compiler

import (
	"fmt"
	"slices"

	"github.com/imgc-dev/imgc/ir"
)

// mergeRuns merges adjacent `run` layers with identical settings (env,
// workdir, user, network, security, devices, mounts, shell) into one layer,
// at --optimize=all. It is safe because running the same commands in the same order with the
// same settings over the same filesystem gives the same final filesystem
// whether their changes land in one layer or several: a later step sees
// the earlier one's files either way, and files it deletes simply never
// reach the merged layer. Each step keeps its own cache entry
// (ir.Layer.Merged holds the keys it would have had unmerged), so editing
// one re-runs that step alone. Layers with cache = false, declared reads
// or writes, or written as a layer block are left alone.
func mergeRuns(s *state, p *ir.Plan) *ir.Plan {
	return mergeAdjacent(s, p, "run", "run steps with identical settings", func(layers []*ir.Layer) int {
		n := 1
		for n < len(layers) && mergeable(layers[0], layers[n]) {
			n++
		}
		return n
	})
}

// previewMergeRuns records, at --optimize=safe, what mergeRuns would do.
func previewMergeRuns(s *state, p *ir.Plan) {
	mergeRuns(s, p)
}

func mergeable(a, b *ir.Layer) bool {
	ra, ok := soleRun(a)
	if !ok {
		return false
	}
	rb, ok := soleRun(b)
	if !ok {
		return false
	}
	return slices.Equal(ra.Env, rb.Env) && ra.Workdir == rb.Workdir && ra.User == rb.User &&
		ra.Network == rb.Network && ra.Security == rb.Security && slices.Equal(ra.Devices, rb.Devices) &&
		ra.Shell == rb.Shell && ra.Shell &&
		slices.Equal(ra.Argv[:len(ra.Argv)-1], rb.Argv[:len(rb.Argv)-1]) &&
		fmt.Sprint(ra.Mounts) == fmt.Sprint(rb.Mounts)
}

// soleRun returns the run step of a layer made of one plain run step.
func soleRun(l *ir.Layer) (*ir.Run, bool) {
	if len(l.Steps) != 1 || l.NoCache || len(l.Merged) > 0 {
		return nil, false
	}
	r, ok := l.Steps[0].(*ir.Run)
	if !ok || len(r.Reads) > 0 || len(r.Writes) > 0 || r.CacheKey != "" {
		return nil, false
	}
	return r, true
}
