package compiler

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/lang/dockerfile"
	"github.com/imgc-dev/imgc/model"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/plan")

// TestPlanGolden compiles testdata/plan/<case>/image.hcl or Dockerfile (with options from
// the case's optional `options` file: "# targets: a b", "# optimize:
// none", "# pins: REF=DIGEST") and compares the printed plan, the
// diagnostics and every layer's key inputs with plan.golden.
func TestPlanGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/plan/*/image.hcl")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	dockerfiles, _ := filepath.Glob("testdata/plan/*/Dockerfile")
	cases = append(cases, dockerfiles...)
	for _, file := range cases {
		dir := filepath.Dir(file)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			abs, err := filepath.Abs(dir)
			if err != nil {
				t.Fatal(err)
			}
			opts := caseOptions(t, filepath.Join(dir, "options"))
			opts.Platform = amd64
			cfg, diags := load(t, file)
			var plan *ir.Plan
			if !diags.HasErrors() {
				var cdiags hcl.Diagnostics
				plan, cdiags = Compile(cfg, opts)
				diags = append(diags, cdiags...)
			}
			got := strings.ReplaceAll(renderCase(plan, diags), abs, "$CASE")
			golden := filepath.Join(dir, "plan.golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("plan mismatch (-want +got), run go test -update if intended:\n%s", diff)
			}
		})
	}
}

// load reads an .image.hcl file, or imports a Dockerfile with the case
// directory as context.
func load(t *testing.T, file string) (*model.Config, hcl.Diagnostics) {
	if filepath.Base(file) != "Dockerfile" {
		return lang.Load(file, lang.Options{})
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(abs)
	if err != nil {
		t.Fatal(err)
	}
	cfg, diags := dockerfile.Import(abs, src, dockerfile.Options{Dir: filepath.Dir(abs), Platform: "linux/amd64"})
	if cfg == nil {
		cfg = &model.Config{Dir: filepath.Dir(abs)}
	}
	return cfg, diags
}

func caseOptions(t *testing.T, path string) Options {
	var opts Options
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return opts
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), ": ")
		if !ok {
			continue
		}
		switch key {
		case "targets":
			opts.Targets = strings.Fields(value)
		case "optimize":
			opts.Optimize = value
		case "pins":
			opts.Pins = map[string]string{}
			for _, kv := range strings.Fields(value) {
				k, v, _ := strings.Cut(kv, "=")
				opts.Pins[k] = v
			}
		default:
			t.Fatalf("%s: unknown option %q", path, key)
		}
	}
	return opts
}

func renderCase(plan *ir.Plan, diags hcl.Diagnostics) string {
	var b bytes.Buffer
	for _, d := range diags {
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		fmt.Fprintf(&b, "%s: %s\n  %s\n", sev, d.Summary, d.Detail)
		if d.Subject != nil {
			fmt.Fprintf(&b, "  at %s:%d\n", filepath.Base(d.Subject.Filename), d.Subject.Start.Line)
		}
	}
	if plan == nil {
		return b.String()
	}
	if len(diags) > 0 {
		b.WriteString("\n")
	}
	ir.PrintText(&b, plan, nil, false)
	b.WriteString("\n--- key inputs\n")
	for _, t := range plan.Targets {
		fmt.Fprintf(&b, "%s %s: base %s\n", t.Kind, t.Name, t.Base.Key.Short())
		for i, l := range t.Layers {
			var vars []string
			for k, v := range l.Vars {
				vars = append(vars, k+"="+v)
			}
			sort.Strings(vars)
			fmt.Fprintf(&b, "  %d %s  %s", i+1, l.Key.Short(), l.CreatedBy)
			if len(vars) > 0 {
				fmt.Fprintf(&b, "  vars %s", strings.Join(vars, " "))
			}
			if l.NoCache {
				b.WriteString("  no-cache")
			}
			b.WriteString("\n")
			for j, k := range l.Merged {
				fmt.Fprintf(&b, "      merged step %d keeps %s\n", j+1, k.Short())
			}
			for _, in := range l.Inputs {
				fmt.Fprintf(&b, "      %s = %s\n", in.Name, in.Value)
			}
		}
	}
	return b.String()
}
