package local_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/internal/testbase"
	"github.com/imgc-dev/imgc/ir"
)

// readImageFiles reads files (relative paths) from image name of the OCI
// layout at dir.
func readImageFiles(t *testing.T, dir, name string, files ...string) map[string]string {
	t.Helper()
	root := testbase.Rootfs(t, layoutImage(t, dir, name))
	out := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[f] = string(data)
	}
	return out
}

func TestNoCacheRebuildsWhatFollows(t *testing.T) {
	base := requireRuntime(t)
	s := openStore(t)
	// Each run of the stamp counts one more line in a cache mount.
	count := sh("echo x >> /count/runs; wc -l < /count/runs > /stamp")
	count.Mounts = []ir.Mount{{Type: ir.MountCache, Target: "/count", ID: "nocache-count", Sharing: "locked"}}
	stamp := layerOf("stamp", count)
	stamp.NoCache = true
	stage := target("s", busyboxBase(base), stamp, layerOf("copy stamp", sh("cp /stamp /stamp-copy")))
	stage.Kind, stage.Output = ir.KindStage, false
	onStage := target("on-stage", ir.Base{Kind: ir.BaseTarget, Target: "s", Key: stage.Key(), Origin: origin()},
		layerOf("copy in image", sh("cp /stamp /stamp-img")))
	onStage.DependsOn = []string{"s"}
	reader := target("reader", busyboxBase(base),
		layerOf("marker", sh("echo > /marker")),
		layerOf("from s", &ir.Copy{Sources: []string{"/stamp"}, Dest: "/copied", FromTarget: "s", Origin: origin()}),
		layerOf("after", sh("cp /copied /copied-again")))
	reader.DependsOn = []string{"s"}
	p := &ir.Plan{Project: "nocache", Targets: []*ir.Target{stage, onStage, reader}}
	out := filepath.Join(t.TempDir(), "out")
	opts := engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}}
	if _, _, err := build(t, s, p, opts); err != nil {
		t.Fatal(err)
	}

	want := map[ir.CacheKey]ir.Status{
		stage.Layers[0].Key:   {Reason: "cache = false"},
		stage.Layers[1].Key:   {Reason: "parent layer rebuilt (cache = false)"},
		onStage.Layers[0].Key: {Reason: "base stage `s` rebuilt (cache = false)"},
		reader.Layers[0].Key:  {Hit: true},
		reader.Layers[1].Key:  {Reason: "source stage `s` rebuilt (cache = false)"},
		reader.Layers[2].Key:  {Reason: "parent layer rebuilt (cache = false)"},
	}
	if diff := cmp.Diff(want, local.New(s).Explain(p)); diff != "" {
		t.Errorf("Explain after a build (-want +got):\n%s", diff)
	}

	_, ev, err := build(t, s, p, opts)
	if err != nil {
		t.Fatal(err)
	}
	if n := ev.count("start"); n != 5 {
		t.Errorf("second build ran %d layers, want 5 (all but reader's first)", n)
	}
	got := readImageFiles(t, out, "on-stage", "stamp", "stamp-copy", "stamp-img")
	got2 := readImageFiles(t, out, "reader", "copied", "copied-again")
	for f, v := range got2 {
		got[f] = v
	}
	for f, v := range got {
		if v != "2\n" {
			t.Errorf("after the second build %s = %q, want %q (from the stamp's second run)", f, v, "2\n")
		}
	}
}

func TestHistoryNamesSourcesRelativeToTheProject(t *testing.T) {
	base := requireRuntime(t)
	epoch := time.Unix(1700000000, 0)
	var digests []string
	for _, dir := range []string{t.TempDir(), filepath.Join(t.TempDir(), "elsewhere")} {
		writeFiles(t, dir, map[string]string{"app/main.txt": "hello\n"})
		file := filepath.Join(dir, "app.image.hcl")
		c := contextCopy(t, dir, []string{"app/"}, "/app/")
		c.Origin = ir.Origin{File: file, Line: 3, EndLine: 5}
		r := sh("cat /app/main.txt > /greeting")
		r.Origin = ir.Origin{File: file, Line: 7}
		l1, l2 := layerOf("copy app", c), layerOf("greet", r)
		tg := target("app", busyboxBase(base), l1, l2)
		p := &ir.Plan{Project: dir, Targets: []*ir.Target{tg}}
		s := openStore(t)
		res, _, err := build(t, s, p, engine.BuildOptions{SourceDateEpoch: &epoch})
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, res.Images[0].Digest)
		hist, err := s.History("app")
		if err != nil {
			t.Fatal(err)
		}
		var sources []string
		for _, h := range hist[len(hist)-2:] {
			sources = append(sources, h.Source)
		}
		if diff := cmp.Diff([]string{"app.image.hcl:3-5", "app.image.hcl:7"}, sources); diff != "" {
			t.Errorf("history sources (-want +got):\n%s", diff)
		}
	}
	if digests[0] != digests[1] {
		t.Errorf("the same project in two directories gave digests %s and %s", digests[0], digests[1])
	}
}

func TestStageOnlyFeedingCachedLayersIsNotBuilt(t *testing.T) {
	base := requireRuntime(t)
	s := openStore(t)
	stage := target("build", busyboxBase(base), layerOf("compile", sh("mkdir -p /out && echo artifact > /out/bin")))
	stage.Kind, stage.Output = ir.KindStage, false
	app := target("app", busyboxBase(base),
		layerOf("install", &ir.Copy{Sources: []string{"/out/bin"}, Dest: "/usr/bin/app", FromTarget: "build", Origin: origin()}))
	app.DependsOn = []string{"build"}
	p := &ir.Plan{Project: "lazy", Targets: []*ir.Target{stage, app}}
	if _, _, err := build(t, s, p, engine.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	// Prune keeps the app's layers, not the stage's.
	if _, err := s.Prune(); err != nil {
		t.Fatal(err)
	}
	want := map[ir.CacheKey]ir.Status{
		stage.Layers[0].Key: {Reason: ir.SkippedStage, Skipped: true},
		app.Layers[0].Key:   {Hit: true},
	}
	if diff := cmp.Diff(want, local.New(s).Explain(p)); diff != "" {
		t.Errorf("Explain after prune (-want +got):\n%s", diff)
	}
	_, ev, err := build(t, s, p, engine.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := ev.count("start"); n != 0 {
		t.Errorf("after prune, a build whose image layers all hit ran %d layers, want 0", n)
	}
	for _, e := range ev.all {
		if e.Kind == "target" && e.Target == "build" {
			t.Errorf("the stage was built though no layer that reads it runs")
		}
	}
	// A layer that reads the stage and misses builds it again.
	app2 := target("app", busyboxBase(base),
		layerOf("install", &ir.Copy{Sources: []string{"/out/bin"}, Dest: "/usr/bin/app2", FromTarget: "build", Origin: origin()}))
	app2.DependsOn = []string{"build"}
	p2 := &ir.Plan{Project: "lazy", Targets: []*ir.Target{stage, app2}}
	out := filepath.Join(t.TempDir(), "out")
	_, ev, err = build(t, s, p2, engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}})
	if err != nil {
		t.Fatal(err)
	}
	if n := ev.count("start"); n != 2 {
		t.Errorf("a changed copy from the pruned stage ran %d layers, want 2", n)
	}
	if got := readImageFiles(t, out, "app", "usr/bin/app2"); got["usr/bin/app2"] != "artifact\n" {
		t.Errorf("usr/bin/app2 = %q, want %q", got["usr/bin/app2"], "artifact\n")
	}
}

func TestErrorEventNamesTheLayer(t *testing.T) {
	base := requireRuntime(t)
	s := openStore(t)
	fails := sh("exit 3")
	tg := target("app", busyboxBase(base), layerOf("ok", sh("true")), layerOf("fails", fails))
	p := &ir.Plan{Project: "error-event", Targets: []*ir.Target{tg}}
	_, ev, err := build(t, s, p, engine.BuildOptions{})
	if err == nil {
		t.Fatal("build succeeded; want exit status 3")
	}
	var got []engine.Event
	for _, e := range ev.all {
		if e.Kind == "error" {
			got = append(got, e)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d error events, want 1", len(got))
	}
	if e := got[0]; e.Target != "app" || e.Layer != "fails" || e.Key != tg.Layers[1].Key || e.Origin != fails.Origin || e.Line == "" {
		t.Errorf("error event = %+v; want target app, layer fails, key %s, origin %s and a message", e, tg.Layers[1].Key, fails.Origin)
	}
}

func TestExplainNamesARebuiltBaseStage(t *testing.T) {
	base := requireRuntime(t)
	s := openStore(t)
	plan := func(release string) (*ir.Plan, *ir.Target) {
		common := target("common", busyboxBase(base), layerOf("release", sh("echo "+release+" > /release")))
		common.Kind, common.Output = ir.KindStage, false
		api := target("api", ir.Base{Kind: ir.BaseTarget, Target: "common", Key: common.Key(), Origin: origin()},
			layerOf("api", sh("echo api > /api")))
		api.DependsOn = []string{"common"}
		return &ir.Plan{Project: "base-stage", Targets: []*ir.Target{common, api}}, api
	}
	p, _ := plan("1.2.0")
	if _, _, err := build(t, s, p, engine.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	p2, api := plan("1.1.0")
	if got, want := local.New(s).Explain(p2)[api.Layers[0].Key], (ir.Status{Reason: "base stage `common` rebuilt"}); got != want {
		t.Errorf("Explain(api's first layer) = %+v, want %+v", got, want)
	}
}

func TestNoCacheRebuildsTheStepsOfAMergedLayerAfterIt(t *testing.T) {
	base := requireRuntime(t)
	s := openStore(t)
	count := sh("echo x >> /count/runs; wc -l < /count/runs > /stamp")
	count.Mounts = []ir.Mount{{Type: ir.MountCache, Target: "/count", ID: "nocache-merged", Sharing: "locked"}}
	stamp := layerOf("stamp", count)
	stamp.NoCache = true
	one, two := layerOf("one", sh("cp /stamp /one")), layerOf("two", sh("cp /stamp /two"))
	tg := target("app", busyboxBase(base), stamp, one, two)
	merged := &ir.Layer{Name: "merged", Steps: append(one.Steps, two.Steps...), Merged: []ir.CacheKey{one.Key, two.Key},
		Parent: one.Parent, Key: ir.KeyOf([]byte("merged " + one.Key.String() + two.Key.String())), CreatedBy: "merged", Origin: one.Origin}
	tg.Layers = []*ir.Layer{stamp, merged}
	p := &ir.Plan{Project: "nocache-merged", Targets: []*ir.Target{tg}}
	out := filepath.Join(t.TempDir(), "out")
	opts := engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}}
	for i := 0; i < 2; i++ {
		if _, _, err := build(t, s, p, opts); err != nil {
			t.Fatal(err)
		}
	}
	got := readImageFiles(t, out, "app", "stamp", "one", "two")
	want := map[string]string{"stamp": "2\n", "one": "2\n", "two": "2\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after the second build (-want +got):\n%s", diff)
	}
}
