package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/buildkit"
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/internal/buildkittest"
	"github.com/imgc-dev/imgc/internal/testbase"
	"github.com/imgc-dev/imgc/ir"
)

// buildPlatformsWith builds plans on e, recording the events.
func buildPlatformsWith(t *testing.T, e engine.PlatformBuilder, plans []*ir.Plan, o engine.BuildOptions) (*engine.Result, []engine.Event) {
	t.Helper()
	var events []engine.Event
	o.Progress = func(ev engine.Event) { events = append(events, ev) }
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	res, err := e.BuildPlatforms(ctx, plans, o)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return res, events
}

// started are the layers events report as run, by target (with its
// platform) and layer.
func started(events []engine.Event) []string {
	var out []string
	for _, ev := range events {
		if ev.Kind == "start" {
			out = append(out, ev.Target+" "+ev.Layer)
		}
	}
	slices.Sort(out)
	return out
}

// --cache-to of a two-platform build exports one cache of both
// platforms' layers: a fresh daemon importing it runs nothing for either
// platform (one export per platform's solve, to one directory, would keep
// only the last platform's).
func TestBuildKitCacheExportPlatforms(t *testing.T) {
	testbase.RequireArm64(t)
	buildkittest.Require(t)
	dir := unseenHello(t)
	plans := helloPlans(t, dir, "oci:"+testbase.MultiArch(t)+":latest",
		ir.Platform{OS: "linux", Architecture: "amd64"}, ir.Platform{OS: "linux", Architecture: "arm64"})
	cacheDir := filepath.Join(t.TempDir(), "cache")
	to, err := engine.ParseCacheExport("type=local,mode=max,dest=" + cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	d1, err := buildkittest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer d1.Stop()
	s := newStore(t)
	first, ev := buildPlatformsWith(t, buildkit.New(s, buildkit.Options{Addr: d1.Addr}), plans, engine.BuildOptions{CacheTo: []engine.CacheExport{to}})
	ran := started(ev)
	if len(ran) < 2 {
		t.Fatalf("the first build ran %v, want the run step of each platform", ran)
	}
	d1.Stop()
	d2, err := buildkittest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Stop()
	from, err := engine.ParseCacheImport("type=local,src=" + cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	s2 := newStore(t)
	second, ev := buildPlatformsWith(t, buildkit.New(s2, buildkit.Options{Addr: d2.Addr}), plans, engine.BuildOptions{CacheFrom: []engine.CacheImport{from}})
	if ran := started(ev); len(ran) != 0 {
		t.Errorf("a fresh daemon importing the cache ran %v, want no layer", ran)
	}
	layers := func(r *engine.Result) []string {
		var out []string
		for _, p := range r.Images[0].Platforms {
			out = append(out, p.Platform.String())
		}
		return out
	}
	if diff := cmp.Diff(layers(first), layers(second)); diff != "" || len(layers(first)) != 2 {
		t.Errorf("platforms differ (-first +from the imported cache):\n%s", diff)
	}
}

const twoCachesHCL = `
variable "base" {
  type = string
}

variable "salt" {
  type = string
}

image "cached" {
  from = var.base
  run {
    sh = "echo cached ${var.salt} > /cached"
  }
}

image "uncached" {
  from = var.base
  run {
    sh = "echo uncached ${var.salt} > /uncached"
  }
}
`

// An export with targets (an image's cache_to) takes only those images'
// layers, also on the BuildKit engine: a fresh daemon importing it reuses
// the cached image's run step and runs the other image's. An export
// without targets (--cache-to) takes both images', though each is its own
// solve: both are reused.
func TestBuildKitCacheExportTargets(t *testing.T) {
	testbase.Require(t)
	buildkittest.Require(t)
	for _, tc := range []struct {
		targets []string
		want    []string
	}{
		{targets: []string{"cached"}, want: []string{"uncached"}},
		{targets: nil, want: nil},
	} {
		t.Run(fmt.Sprint(tc.targets), func(t *testing.T) {
			if diff := cmp.Diff(tc.want, cacheExportRuns(t, tc.targets)); diff != "" {
				t.Errorf("the images whose layers ran on a fresh daemon importing the cache (-want +got):\n%s", diff)
			}
		})
	}
}

// cacheExportRuns builds twoCachesHCL on a fresh daemon exporting its
// cache with targets, and again on another importing it, and returns the
// images whose layers the second ran.
func cacheExportRuns(t *testing.T, targets []string) []string {
	dir := writeProject(t, map[string]string{"app.image.hcl": twoCachesHCL})
	vars := map[string]string{"base": "oci:" + testbase.Busybox(t) + ":latest", "salt": fmt.Sprint(time.Now().UnixNano())}
	p := compileHCL(t, dir, vars)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	to, err := engine.ParseCacheExport("type=local,mode=max,dest=" + cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	to.Targets = targets
	d1, err := buildkittest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer d1.Stop()
	s := newStore(t)
	first := buildWith(t, buildkit.New(s, buildkit.Options{Addr: d1.Addr}), s, p, engine.BuildOptions{CacheTo: []engine.CacheExport{to}})
	if ran := first.ran(); len(ran) != 2 {
		t.Fatalf("the first build ran %v, want both images' run steps", ran)
	}
	d1.Stop()
	d2, err := buildkittest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Stop()
	from, err := engine.ParseCacheImport("type=local,src=" + cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	s2 := newStore(t)
	second := buildWith(t, buildkit.New(s2, buildkit.Options{Addr: d2.Addr}), s2, p, engine.BuildOptions{CacheFrom: []engine.CacheImport{from}})
	var ran []string
	for _, ev := range second.events {
		if ev.Kind == "start" {
			ran = append(ran, ev.Target)
		}
	}
	return ran
}

const stampHCL = `
variable "base" {
  type = string
}

image "stamp" {
  from = var.base
  run {
    sh = "cat /proc/sys/kernel/random/uuid > /stamp"
  }
}
`

// With --no-cache the exported cache holds the layers of the image built,
// not a second run's: a fresh daemon importing it makes the same layers
// and runs nothing.
func TestBuildKitCacheExportNoCache(t *testing.T) {
	testbase.Require(t)
	buildkittest.Require(t)
	dir := writeProject(t, map[string]string{"app.image.hcl": stampHCL})
	p := compileHCL(t, dir, map[string]string{"base": "oci:" + testbase.Busybox(t) + ":latest"})
	cacheDir := filepath.Join(t.TempDir(), "cache")
	to, err := engine.ParseCacheExport("type=local,mode=max,dest=" + cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	d1, err := buildkittest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer d1.Stop()
	s := newStore(t)
	first := buildWith(t, buildkit.New(s, buildkit.Options{Addr: d1.Addr}), s, p, engine.BuildOptions{NoCache: true, CacheTo: []engine.CacheExport{to}})
	d1.Stop()
	d2, err := buildkittest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Stop()
	from, err := engine.ParseCacheImport("type=local,src=" + cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	s2 := newStore(t)
	second := buildWith(t, buildkit.New(s2, buildkit.Options{Addr: d2.Addr}), s2, p, engine.BuildOptions{CacheFrom: []engine.CacheImport{from}})
	if ran := second.ran(); len(ran) != 0 {
		t.Errorf("a fresh daemon importing the cache ran %v, want no layer", ran)
	}
	if diff := cmp.Diff(first.config(t).RootFS.DiffIDs, second.config(t).RootFS.DiffIDs); diff != "" {
		t.Errorf("layers differ (-built with --no-cache +from its exported cache):\n%s", diff)
	}
}

// A cache export with ignore-error=true that fails is a warning saying
// so, not a line that it was exported, and writes no blob map.
func TestBuildKitCacheExportIgnoreError(t *testing.T) {
	testbase.Require(t)
	addr := buildkittest.Require(t)
	down := downRegistry(t)
	p := compileHCL(t, unseenHello(t), map[string]string{"base": "oci:" + testbase.Busybox(t) + ":latest"})
	to, err := engine.ParseCacheExport("type=registry,mode=max,ignore-error=true,ref=" + down + "/cache:main")
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t)
	b := buildWith(t, buildkit.New(s, buildkit.Options{Addr: addr}), s, p, engine.BuildOptions{CacheTo: []engine.CacheExport{to}})
	var exported, warnings []string
	for _, ev := range b.events {
		switch {
		case ev.Kind == "export" && strings.HasPrefix(ev.Line, "cache "):
			exported = append(exported, ev.Line)
		case ev.Kind == "warning":
			warnings = append(warnings, ev.Line)
		}
	}
	if len(exported) != 0 {
		t.Errorf("a failed export says %q", exported)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "failed (ignore-error=true)") {
		t.Errorf("warnings %q, want one that the export failed", warnings)
	}
}

// A cache export that fails fails the build, but only after the image is
// recorded and written to --output, as on the local engine: the output is
// a valid image of the digest the build gives.
func TestBuildKitCacheExportFailureWritesOutputs(t *testing.T) {
	testbase.Require(t)
	addr := buildkittest.Require(t)
	down := downRegistry(t)
	p := compileHCL(t, unseenHello(t), map[string]string{"base": "oci:" + testbase.Busybox(t) + ":latest"})
	to, err := engine.ParseCacheExport("type=registry,ref=" + down + "/cache:main")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "layout")
	s := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, err = buildkit.New(s, buildkit.Options{Addr: addr}).Build(ctx, p, engine.BuildOptions{CacheTo: []engine.CacheExport{to},
		Outputs: []engine.Output{{Type: "oci", Dest: out}}})
	if err == nil || !strings.Contains(err.Error(), down) {
		t.Fatalf("build with a cache export to a registry that is down: %v, want an error naming it", err)
	}
	idx, err := layout.ImageIndexFromPath(out)
	if err != nil {
		t.Fatalf("the output was not written: %v", err)
	}
	if err := validate.Index(idx); err != nil {
		t.Errorf("the output is not a valid image: %v", err)
	}
	man, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(man.Manifests) != 1 {
		t.Fatalf("the output holds %d manifests, want 1", len(man.Manifests))
	}
	var named v1.Descriptor
	for _, tg := range p.Targets {
		if tg.Output {
			if named, err = s.LookupImage(tg.StoreNames()[0]); err != nil {
				t.Fatalf("the image is not named in the store: %v", err)
			}
		}
	}
	if named.Digest != man.Manifests[0].Digest {
		t.Errorf("the output holds %s, the store names %s", man.Manifests[0].Digest, named.Digest)
	}
}

// downRegistry is the address of a registry that is down: a port nothing
// listens on.
func downRegistry(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

const stagesHCL = `
variable "base" {
  type = string
}

stage "build" {
  from = var.base
  run {
    sh = "mkdir -p /out && cat /nonce > /out/x 2>/dev/null; echo built > /out/x"
  }
}

image "app" {
  from = var.base
  copy {
    src  = "/out/x"
    dest = "/x"
    from = stage.build
  }
  copy {
    src  = "a.txt"
    dest = "/a.txt"
  }
}
`

// plan --builder of a project with a stage: after a build every layer
// hits (the stage's too, which the builder's record of images leaves
// out); an edit names the file; a fresh cache directory importing the
// cache (its blob map) hits the image's layers from it and skips the
// stage, as the build would.
func TestBuildKitExplainStages(t *testing.T) {
	testbase.Require(t)
	addr := buildkittest.Require(t)
	nonce := fmt.Sprintf("%d", time.Now().UnixNano())
	dir := writeProject(t, map[string]string{"app.image.hcl": strings.Replace(stagesHCL, "/nonce", "/nonce-"+nonce, 1), "a.txt": "a " + nonce + "\n"})
	vars := map[string]string{"base": "oci:" + testbase.Busybox(t) + ":latest"}
	p := compileHCL(t, dir, vars)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	to, err := engine.ParseCacheExport("type=local,mode=max,dest=" + cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t)
	be := buildkit.New(s, buildkit.Options{Addr: addr})
	buildWith(t, be, s, p, engine.BuildOptions{CacheTo: []engine.CacheExport{to}})
	for _, tg := range p.Targets {
		for _, l := range tg.Layers {
			if st := be.Explain(p)[l.Key]; !st.Hit {
				t.Errorf("after the build, %s layer %q misses: %s", tg.Name, l.Name, st.Reason)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("edited "+nonce+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	edited := compileHCL(t, dir, vars)
	got := map[string]string{}
	for _, tg := range edited.Targets {
		for i, l := range tg.Layers {
			st := be.Explain(edited)[l.Key]
			got[fmt.Sprintf("%s layer %d", tg.Name, i+1)] = st.Reason
		}
	}
	want := map[string]string{"build layer 1": "", "app layer 1": "", "app layer 2": "copied file a.txt changed"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after an edit (-want +got):\n%s", diff)
	}

	// What the local engine built in a cache directory is not the
	// builder's.
	ls := newStore(t)
	buildWith(t, local.New(ls), ls, edited, engine.BuildOptions{})
	for _, tg := range edited.Targets {
		for _, l := range tg.Layers {
			if st := buildkit.New(ls, buildkit.Options{Addr: addr}).Explain(edited)[l.Key]; st.Hit {
				t.Errorf("after a local build only, --builder's plan says %s layer %q hits", tg.Name, l.Name)
			}
		}
	}

	from, err := engine.ParseCacheImport("type=local,src=" + cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	fresh := buildkit.New(newStore(t), buildkit.Options{Addr: addr})
	st, warnings := fresh.ExplainFrom(context.Background(), p, []engine.CacheImport{from})
	if len(warnings) != 0 {
		t.Errorf("warnings %q", warnings)
	}
	for _, l := range p.Target("app").Layers {
		if s := st[l.Key]; !s.Hit || s.From != from.String() {
			t.Errorf("a fresh cache directory: image layer %q: %+v, want a hit from %s", l.Name, s, from)
		}
	}
	for _, l := range p.Target("build").Layers {
		if s := st[l.Key]; !s.Hit && !s.Skipped {
			t.Errorf("a fresh cache directory: stage layer %q: %+v, want it skipped", l.Name, s)
		}
	}
}

// A build interrupted while the daemon runs a step reports neither that
// step as done nor the steps after it as cached: progress says only what
// the daemon finished.
func TestBuildKitInterruptedStepIsNotDone(t *testing.T) {
	testbase.Require(t)
	addr := buildkittest.Require(t)
	nonce := fmt.Sprintf("%d", time.Now().UnixNano())
	dir := writeProject(t, map[string]string{"app.image.hcl": `
variable "base" {
  type = string
}
image "app" {
  from = var.base
  run {
    sh = "echo ` + nonce + ` > /n && sleep 30"
  }
  run {
    sh = "echo second > /second"
  }
}
`})
	p := compileHCL(t, dir, map[string]string{"base": "oci:" + testbase.Busybox(t) + ":latest"})
	s := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var events []engine.Event
	o := engine.BuildOptions{Progress: func(ev engine.Event) {
		events = append(events, ev)
		if ev.Kind == "start" {
			go func() { time.Sleep(time.Second); cancel() }()
		}
	}}
	if _, err := buildkit.New(s, buildkit.Options{Addr: addr}).Build(ctx, p, o); err == nil {
		t.Fatal("an interrupted build succeeded")
	}
	for _, ev := range events {
		if ev.Kind == "done" || ev.Kind == "cached" {
			t.Errorf("an interrupted build says %s %q", ev.Kind, ev.Layer)
		}
	}
}
