package local

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/ir"
)

// TestExportScope: an image's cache_to takes its own layers and its base
// chain (min) or everything it reads (max); --cache-to takes the build's.
func TestExportScope(t *testing.T) {
	p := &ir.Plan{Targets: []*ir.Target{
		{Name: "tools"},
		{Name: "base", Base: ir.Base{Kind: ir.BaseTarget, Target: "tools"}},
		{Name: "build"},
		{Name: "app", Output: true, Base: ir.Base{Kind: ir.BaseTarget, Target: "base"}, DependsOn: []string{"base", "build"}},
		{Name: "other", Output: true},
	}}
	set := func(names ...string) map[string]bool {
		m := map[string]bool{}
		for _, n := range names {
			m[n] = true
		}
		return m
	}
	for _, tc := range []struct {
		exp  engine.CacheExport
		want map[string]bool
	}{
		{engine.CacheExport{Mode: "min"}, set("tools", "base", "app", "other")},
		{engine.CacheExport{Mode: "max"}, set("tools", "base", "build", "app", "other")},
		{engine.CacheExport{Mode: "min", Targets: []string{"app"}}, set("tools", "base", "app")},
		{engine.CacheExport{Mode: "max", Targets: []string{"app"}}, set("tools", "base", "build", "app")},
		{engine.CacheExport{Mode: "max", Targets: []string{"other"}}, set("other")},
		{engine.CacheExport{Mode: "min", Targets: []string{"other", "app"}}, set("tools", "base", "app", "other")},
	} {
		if diff := cmp.Diff(tc.want, exportScope(p, tc.exp)); diff != "" {
			t.Errorf("exportScope(mode=%s, targets %v) (-want +got):\n%s", tc.exp.Mode, tc.exp.Targets, diff)
		}
	}
}
