package integration

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/compiler"
	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/buildkit"
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/internal/buildkittest"
	"github.com/imgc-dev/imgc/internal/testbase"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
)

// helloPlans compiles examples/hello once per platform on base.
func helloPlans(t *testing.T, base string, plats ...ir.Platform) []*ir.Plan {
	t.Helper()
	var plans []*ir.Plan
	for _, pl := range plats {
		cfg, diags := lang.Load(filepath.Join("..", "examples", "hello"), lang.Options{Vars: lang.FlagVars(map[string]string{"base": base}), Platform: pl.String(), BuildPlatform: "linux/amd64"})
		if diags.HasErrors() {
			t.Fatalf("loading: %s", diags.Error())
		}
		p, diags := compiler.Compile(cfg, compiler.Options{Platform: pl})
		if diags.HasErrors() {
			t.Fatalf("compiling for %s: %s", pl, diags.Error())
		}
		plans = append(plans, p)
	}
	return plans
}

// A two-platform build on BuildKit gives the local engine's index, to the
// digest, with SOURCE_DATE_EPOCH; the arm64 run step runs emulated on the
// daemon's runc worker.
func TestBuildKitPlatformsEquivalence(t *testing.T) {
	testbase.RequireArm64(t)
	addr := buildkittest.Require(t)
	plans := helloPlans(t, "oci:"+testbase.MultiArch(t)+":latest",
		ir.Platform{OS: "linux", Architecture: "amd64"}, ir.Platform{OS: "linux", Architecture: "arm64"})
	o := engine.BuildOptions{SourceDateEpoch: &epoch}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ls, bs := newStore(t), newStore(t)
	start := time.Now()
	loc, err := local.New(ls).BuildPlatforms(ctx, plans, o)
	if err != nil {
		t.Fatalf("local engine: %v", err)
	}
	t.Logf("local engine, two platforms, cold: %s", time.Since(start))
	start = time.Now()
	bk, err := buildkit.New(bs, buildkit.Options{Addr: addr}).BuildPlatforms(ctx, plans, o)
	if err != nil {
		t.Fatalf("BuildKit engine: %v", err)
	}
	t.Logf("BuildKit engine, two platforms: %s", time.Since(start))
	if len(bk.Images) != 1 || len(bk.Images[0].Platforms) != 2 {
		t.Fatalf("BuildKit built %+v, want one index of two platforms", bk.Images)
	}
	if diff := cmp.Diff(loc.Images, bk.Images); diff != "" {
		t.Errorf("images differ (-local +BuildKit):\n%s", diff)
	}
	if diff := cmp.Diff(loc.Pins, bk.Pins); diff != "" {
		t.Errorf("pins differ (-local +BuildKit):\n%s", diff)
	}
}

