package local_test

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// stagedPlan is the common multi-stage shape: image app runs a step of its
// own, then copies from and bind-mounts stage build. Both sleeping steps
// write when they started and ended, as the host's uptime (busybox's date
// has no %N; /proc/uptime is the host's in every container, to 10 ms).
func stagedPlan(base string) *ir.Plan {
	stage := target("build", busyboxBase(base),
		layerOf("compile", sh("cut -d' ' -f1 /proc/uptime > /build-start; sleep 1; echo x > /out; cut -d' ' -f1 /proc/uptime > /build-end")))
	stage.Kind, stage.Output = ir.KindStage, false
	bind := sh("cat /in/out > /bound")
	bind.Mounts = []ir.Mount{{Type: ir.MountBind, FromTarget: "build", Source: "/", Target: "/in"}}
	app := target("app", busyboxBase(base),
		layerOf("apk", sh("cut -d' ' -f1 /proc/uptime > /app-start; sleep 1; touch /a; cut -d' ' -f1 /proc/uptime > /app-end")),
		layerOf("from build", &ir.Copy{Sources: []string{"/out", "/build-start", "/build-end"}, Dest: "/", FromTarget: "build", Origin: origin()}),
		layerOf("bind", bind),
	)
	app.DependsOn = []string{"build"}
	return &ir.Plan{Project: "sched", Targets: []*ir.Target{stage, app}}
}

// stepIntervals builds p into a layout and returns when app's and build's
// sleeping steps ran, read from the files they wrote.
func stepIntervals(t *testing.T, s *store.Store, p *ir.Plan, parallelism int) (app, stage [2]int64) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	if _, _, err := build(t, s, p, engine.BuildOptions{Parallelism: parallelism, Outputs: []engine.Output{{Type: "oci", Dest: out}}}); err != nil {
		t.Fatal(err)
	}
	got := readImageFiles(t, out, "app", "app-start", "app-end", "build-start", "build-end", "out", "bound", "a")
	if got["out"] != "x\n" || got["bound"] != "x\n" {
		t.Errorf("out = %q, bound = %q; want the stage's x", got["out"], got["bound"])
	}
	ns := func(name string) int64 {
		secs, err := strconv.ParseFloat(strings.TrimSpace(got[name]), 64)
		if err != nil {
			t.Fatalf("%s = %q: want seconds of uptime", name, got[name])
		}
		return int64(secs * float64(time.Second))
	}
	return [2]int64{ns("app-start"), ns("app-end")}, [2]int64{ns("build-start"), ns("build-end")}
}

func overlap(a, b [2]int64) time.Duration {
	return time.Duration(min(a[1], b[1]) - max(a[0], b[0]))
}

func TestImageStepsOverlapTheStageTheyCopyFrom(t *testing.T) {
	base := requireRuntime(t)
	s := openStore(t)
	// Warm the base snapshot so that both targets reach their steps at once.
	warm := target("warm", busyboxBase(base), layerOf("warm", sh("true")))
	if _, _, err := build(t, s, &ir.Plan{Project: "warm", Targets: []*ir.Target{warm}}, engine.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	// app's own first step and the stage's step each wait for the other:
	// the build succeeds only if app did not wait for the stage first.
	p := stagedPlan(base)
	p.Targets[0].Layers[0].Steps[0] = rendezvous("build", "app", "echo x > /out; touch /build-start /build-end")
	p.Targets[1].Layers[0].Steps[0] = rendezvous("app", "build", "touch /a /app-start /app-end")
	if _, _, err := build(t, s, p, engine.BuildOptions{}); err != nil {
		t.Fatalf("app's own step and the stage's did not run at once: app waited for the stage before its own first step: %v", err)
	}
}

func TestWaitingTargetGivesUpItsSlot(t *testing.T) {
	base := requireRuntime(t)
	s := openStore(t)
	// With one slot, app (whichever target takes it first) must let the
	// stage run while it waits at the copy, and the two steps never overlap.
	app, stage := stepIntervals(t, s, stagedPlan(base), 1)
	if o := overlap(app, stage); o > 0 {
		t.Errorf("with Parallelism 1, app's and the stage's steps overlapped by %v", o)
	}
}

func TestFailingSourceStopsTheTargetWaitingForIt(t *testing.T) {
	base := requireRuntime(t)
	for _, parallelism := range []int{1, 2} {
		t.Run(strconv.Itoa(parallelism), func(t *testing.T) {
			s := openStore(t)
			stage := target("build", busyboxBase(base), layerOf("compile", sh("sleep 1; echo broken >&2; exit 3")))
			stage.Kind, stage.Output = ir.KindStage, false
			app := target("app", busyboxBase(base),
				layerOf("own", sh("touch /a")),
				layerOf("from build", &ir.Copy{Sources: []string{"/out"}, Dest: "/", FromTarget: "build", Origin: origin()}),
			)
			app.DependsOn = []string{"build"}
			p := &ir.Plan{Project: "sched-fail", Targets: []*ir.Target{stage, app}}
			// build's two-minute context is the hang guard: app waiting
			// on for the failed stage ends as a deadline error.
			_, ev, err := build(t, s, p, engine.BuildOptions{Parallelism: parallelism})
			var se *engine.StepError
			if !errors.As(err, &se) || se.Target != "build" || se.ExitCode != 3 {
				t.Fatalf("build error = %v, want the stage's exit status 3", err)
			}
			for _, e := range ev.all {
				// app may be cancelled in its own step on a slow machine,
				// but waiting for the stage it has nothing to report.
				if e.Kind == "error" && e.Target == "app" && (e.Layer == "from build" || strings.Contains(e.Line, "abandoned")) {
					t.Errorf("error event for app's wait: %s; only the stage failed", e.Line)
				}
				if e.Kind == "start" && e.Target == "app" && e.Layer == "from build" {
					t.Errorf("app's copy from the failed stage started")
				}
			}
		})
	}
}

func TestPlanReadingALaterTargetIsRefused(t *testing.T) {
	app := target("app", ir.Base{Kind: ir.BaseScratch},
		layerOf("from build", &ir.Copy{Sources: []string{"/out"}, Dest: "/", FromTarget: "build", Origin: origin()}))
	stage := target("build", ir.Base{Kind: ir.BaseScratch}, layerOf("x", sh("true")))
	p := &ir.Plan{Project: "order", Targets: []*ir.Target{app, stage}}
	_, err := local.New(openStore(t)).Build(t.Context(), p, engine.BuildOptions{})
	if err == nil || !strings.Contains(err.Error(), `reads "build", which does not come before it`) {
		t.Errorf("Build = %v, want a refusal naming the read of build", err)
	}
}
