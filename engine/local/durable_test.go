package local_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/local"
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

// TestOutputsAfterTheFlush: the store is flushed, and the marker gone,
// once the images are in it and before the outputs are written (as
// docker build, imgc does not flush outputs, and a large one would
// otherwise be waited for).
func TestOutputsAfterTheFlush(t *testing.T) {
	base := requireRuntime(t)
	s := openStore(t)
	line = 0
	p := &ir.Plan{Project: t.TempDir(), Targets: []*ir.Target{target("app", busyboxBase(base), layerOf("step", sh("echo ok > /ok")))}}
	p.Targets[0].Output = true
	markers := -1
	o := engine.BuildOptions{
		Outputs: []engine.Output{{Type: "oci", Dest: filepath.Join(t.TempDir(), "out")}},
		Progress: func(ev engine.Event) {
			if ev.Kind == "export" {
				ents, _ := os.ReadDir(filepath.Join(s.Dir(), "unsynced"))
				markers = len(ents)
			}
		},
	}
	if _, err := local.New(s).Build(context.Background(), p, o); err != nil {
		t.Fatal(err)
	}
	if markers != 0 {
		t.Errorf("markers left when the output was written: %d, want 0 (-1: no export event)", markers)
	}
}
