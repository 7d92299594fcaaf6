package runtime_test

import (
	"strings"
	"testing"

	"github.com/imgc-dev/imgc/compiler/ir"
	imgcrt "github.com/imgc-dev/imgc/runtime"
)

// TestContextFileChangedSincePlanned: a file edited between planning and
// building (same size, new content) fails the step instead of storing the
// new content under the old key, both in a copy-only layer (written straight
// to a tar) and in a layer block (written into an upper dir), and nothing is
// cached for it.
func TestContextFileChangedSincePlanned(t *testing.T) {
	base := requireRuntime(t)
	for _, withRun := range []bool{false, true} {
		ctx := t.TempDir()
		writeFiles(t, ctx, map[string]string{"f.txt": "v1\n"})
		cp := contextCopy(t, ctx, []string{"f.txt"}, "/f.txt")
		writeFiles(t, ctx, map[string]string{"f.txt": "v2\n"}) // the edit, after planning
		steps := []ir.Step{cp}
		if withRun {
			steps = append(steps, sh("true"))
		}
		tg := target("changed", busyboxBase(base), layerOf("copy", steps...))
		s := openStore(t)
		_, _, err := build(t, s, &ir.Plan{Project: ctx, Targets: []*ir.Target{tg}}, imgcrt.BuildOptions{})
		if err == nil || !strings.Contains(err.Error(), "changed since it was planned") {
			t.Fatalf("layer with run=%v: build error = %v, want the file reported as changed", withRun, err)
		}
		if st := s.Explain(&ir.Plan{Project: ctx, Targets: []*ir.Target{tg}}); st[tg.Layers[0].Key].Hit {
			t.Errorf("layer with run=%v: the failed layer is cached", withRun)
		}
	}
}
