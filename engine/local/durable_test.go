package local_test

import (
	"os"
	"testing"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/ir"
)

// TestBuildsLeaveNoUnsyncedMarker: a build that ran steps over volatile
// overlays flushes the store and removes its marker, whether it succeeded
// or a step failed, so the next build has nothing to recover.
func TestBuildsLeaveNoUnsyncedMarker(t *testing.T) {
	base := requireRuntime(t)
	s := openStore(t)
	for _, cmd := range []string{"echo ok > /ok", "exit 3"} {
		line = 0
		p := &ir.Plan{Project: t.TempDir(), Targets: []*ir.Target{target("app", busyboxBase(base), layerOf("step", sh(cmd)))}}
		_, _, err := build(t, s, p, engine.BuildOptions{})
		if (err != nil) != (cmd == "exit 3") {
			t.Fatalf("build of %q: %v", cmd, err)
		}
		ents, rerr := os.ReadDir(s.Dir() + "/unsynced")
		if rerr != nil {
			t.Fatalf("build of %q left no unsynced directory: %v (it is made by the first step)", cmd, rerr)
		}
		if len(ents) != 0 {
			t.Errorf("build of %q left markers %v", cmd, ents)
		}
	}
}

// TestRebuildLeavesNoWorkDir: a step run again that writes the same files
// finds its snapshot there already, and its upper dir is removed in the
// background (removeLater); the build waits for that before it returns.
func TestRebuildLeavesNoWorkDir(t *testing.T) {
	base := requireRuntime(t)
	s := openStore(t)
	for range 2 {
		line = 0
		p := &ir.Plan{Project: t.TempDir(), Targets: []*ir.Target{target("app", busyboxBase(base),
			layerOf("step", sh("mkdir -p /d && for i in $(seq 1 300); do echo $i > /d/$i; done && touch -d @1600000000 /d /d/*")))}}
		if _, _, err := build(t, s, p, engine.BuildOptions{NoCache: true}); err != nil {
			t.Fatal(err)
		}
		ents, err := os.ReadDir(s.Dir() + "/tmp")
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 0 {
			t.Errorf("the build left %d entries in the cache's tmp/: %v", len(ents), ents)
		}
	}
}
