package local_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/ir"
)

// rwBindAsUser builds a step run as 1000:1000 with an rw bind mount of
// source (in ctxDir) at target after a root step that makes /res writable
// for it, and returns the files the step wrote to /res.
func rwBindAsUser(t *testing.T, ctxDir, source, target, script string, files ...string) map[string]string {
	t.Helper()
	base := requireRuntime(t)
	s := openStore(t)
	run := sh(script)
	run.User = "1000:1000"
	run.Mounts = []ir.Mount{{Type: ir.MountBind, Context: ctxDir, Source: source, Target: target}}
	p := &ir.Plan{Project: "rw", Targets: []*ir.Target{rwTarget(base, run)}}
	out := filepath.Join(t.TempDir(), "out")
	if _, _, err := build(t, s, p, engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}}); err != nil {
		t.Fatal(err)
	}
	return readImageFiles(t, out, "app", files...)
}

func rwTarget(base string, run *ir.Run) *ir.Target {
	return target("app", busyboxBase(base), layerOf("res", sh("mkdir -m 777 /res")), layerOf("rw", run))
}

func TestRWBindOfAFileKeepsItsOwnerAndMode(t *testing.T) {
	ctxDir := t.TempDir()
	f := filepath.Join(ctxDir, "f")
	writeFiles(t, ctxDir, map[string]string{"f": "old\n"})
	if err := os.Chown(f, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f, 0o664|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	got := rwBindAsUser(t, ctxDir, "f", "/f",
		"stat -c '%a %u:%g' /f > /res/stat; echo new >> /f && cat /f > /res/content",
		"res/stat", "res/content")
	want := map[string]string{"res/stat": "2664 1000:1000\n", "res/content": "old\nnew\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("what the step saw of its rw file mount (-want +got):\n%s", diff)
	}
	if data, err := os.ReadFile(f); err != nil || string(data) != "old\n" {
		t.Errorf("source after the step = %q, %v; want it unchanged", data, err)
	}
}

func TestRWBindOfADirectoryKeepsItsOwnerAndMode(t *testing.T) {
	ctxDir := t.TempDir()
	d := filepath.Join(ctxDir, "d")
	writeFiles(t, ctxDir, map[string]string{"d/a": "a\n"})
	if err := os.Chown(d, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o775); err != nil {
		t.Fatal(err)
	}
	got := rwBindAsUser(t, ctxDir, "d", "/d",
		"stat -c '%a %u:%g' /d > /res/stat; echo n > /d/new && ls /d > /res/ls",
		"res/stat", "res/ls")
	want := map[string]string{"res/stat": "775 1000:1000\n", "res/ls": "a\nnew\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("what the step saw of its rw directory mount (-want +got):\n%s", diff)
	}
	if _, err := os.Lstat(filepath.Join(d, "new")); !os.IsNotExist(err) {
		t.Errorf("the step's write reached the source: %v", err)
	}
}
