package local_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/internal/testbase"
	"github.com/imgc-dev/imgc/ir"
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
		_, _, err := build(t, s, &ir.Plan{Project: ctx, Targets: []*ir.Target{tg}}, engine.BuildOptions{})
		if err == nil || !strings.Contains(err.Error(), "changed since it was planned") {
			t.Fatalf("layer with run=%v: build error = %v, want the file reported as changed", withRun, err)
		}
		if st := local.New(s).Explain(&ir.Plan{Project: ctx, Targets: []*ir.Target{tg}}); st[tg.Layers[0].Key].Hit {
			t.Errorf("layer with run=%v: the failed layer is cached", withRun)
		}
	}
}

// TestRebuiltParentInvalidatesItsChildren: image x rebuilds a layer it
// shares with image y (cache = false), which gives the shared cache entry
// new content. y's next layer, cached on the old content, must not be
// reused on the new: /derived must always be a copy of /state.
func TestRebuiltParentInvalidatesItsChildren(t *testing.T) {
	base := requireRuntime(t)
	const gen = "cat /proc/sys/kernel/random/uuid > /state"
	s := openStore(t)
	mkY := func() *ir.Target {
		return target("y", busyboxBase(base), layerOf("gen", sh(gen)), layerOf("derive", sh("cp /state /derived")))
	}
	mkX := func() *ir.Target {
		l := layerOf("gen", sh(gen))
		l.NoCache = true
		return target("x", busyboxBase(base), l)
	}
	check := func(round string) {
		t.Helper()
		out := t.TempDir()
		y := mkY()
		if _, _, err := build(t, s, &ir.Plan{Project: "/p", Targets: []*ir.Target{y}}, engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}}); err != nil {
			t.Fatalf("%s: building y: %v", round, err)
		}
		root := testbase.Rootfs(t, layoutImage(t, out, "y"))
		state, _ := os.ReadFile(filepath.Join(root, "state"))
		derived, _ := os.ReadFile(filepath.Join(root, "derived"))
		if len(state) == 0 || string(state) != string(derived) {
			t.Errorf("%s: y has /state %q and /derived %q: a layer built on other content was reused", round, state, derived)
		}
	}
	check("first build")
	if _, _, err := build(t, s, &ir.Plan{Project: "/p", Targets: []*ir.Target{mkX()}}, engine.BuildOptions{}); err != nil {
		t.Fatalf("building x: %v", err)
	}
	check("after x rebuilt the shared layer")
}

// TestCopyUnderAFileFails: copying into a directory path that exists as a
// regular file fails, as in BuildKit, instead of replacing the file.
func TestCopyUnderAFileFails(t *testing.T) {
	base := requireRuntime(t)
	ctx := t.TempDir()
	writeFiles(t, ctx, map[string]string{"new.txt": "new\n"})
	tg := target("under", busyboxBase(base),
		layerOf("file", sh("echo file > /notadir")),
		layerOf("copy", contextCopy(t, ctx, []string{"new.txt"}, "/notadir/")))
	_, _, err := build(t, openStore(t), &ir.Plan{Project: ctx, Targets: []*ir.Target{tg}}, engine.BuildOptions{})
	if err == nil || !strings.Contains(err.Error(), "/notadir is a file, not a directory") {
		t.Fatalf("build error = %v, want /notadir reported as a file", err)
	}
}
