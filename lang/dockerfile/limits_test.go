package dockerfile

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/model"
)

// TestManyEnvLines: each ENV used to scan, copy and rebuild the whole
// environment (100,000 ENV lines took over 5 minutes). Linear, twice the
// lines allocate about twice the bytes; the quadratic rebuild allocated
// four times as much.
func TestManyEnvLines(t *testing.T) {
	envLines := func(size int) []byte {
		var b strings.Builder
		b.WriteString("FROM busybox\n")
		for i := 0; b.Len() < size; i++ {
			fmt.Fprintf(&b, "ENV V%d=%d\n", i, i)
		}
		b.WriteString("RUN echo $V1\nENV V2=changed\nRUN echo $V2\n")
		return []byte(b.String())
	}
	var cfg *model.Config
	importAndConvert := func(src []byte) {
		var diags hcl.Diagnostics
		cfg, diags = Import("Dockerfile", src, Options{Platform: testPlatform})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		if _, diags := Convert("Dockerfile", src, ConvertOptions{Platform: testPlatform}); diags.HasErrors() {
			t.Fatal(diags)
		}
	}
	half := allocated(func() { importAndConvert(envLines(lang.MaxSourceSize/2 - 100)) })
	full := allocated(func() { importAndConvert(envLines(lang.MaxSourceSize - 100)) })
	if n := len(cfg.Stages[0].Env); n < 50000 {
		t.Errorf("%d env entries; want every ENV", n)
	}
	t.Logf("allocated %d bytes for half the lines, %d for all", half, full)
	if ratio := float64(full) / float64(half); ratio > 3 {
		t.Errorf("twice the ENV lines allocated %.1f times the bytes (%d, %d); want about twice: the work is not linear", ratio, half, full)
	}
}

// allocated is the bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestDockerfileTooLarge(t *testing.T) {
	src := []byte("FROM busybox\n" + strings.Repeat("# padding\n", lang.MaxSourceSize/10))
	if _, diags := Import("Dockerfile", src, Options{}); len(diags) != 1 || diags[0].Summary != "Dockerfile too large" {
		t.Errorf("Import diagnostics = %v; want one \"Dockerfile too large\"", diags)
	}
	if _, diags := Convert("Dockerfile", src, ConvertOptions{}); len(diags) != 1 || diags[0].Summary != "Dockerfile too large" {
		t.Errorf("Convert diagnostics = %v; want one \"Dockerfile too large\"", diags)
	}
}

// TestStepEnvBound: n ENV lines between n RUN lines give each RUN up to n
// variables; past maxStepEnv in all that is an error, not gigabytes.
func TestStepEnvBound(t *testing.T) {
	var b strings.Builder
	b.WriteString("FROM busybox\n")
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&b, "RUN echo %d\nENV E%d=%d\n", i, i, i)
	}
	_, diags := Import("Dockerfile", []byte(b.String()), Options{Platform: testPlatform})
	if len(diags) != 1 || diags[0].Summary != "Too many environment variables" {
		t.Fatalf("diagnostics = %v; want one \"Too many environment variables\"", diags)
	}
	if line := diags[0].Subject.Start.Line; line < 1000 {
		t.Errorf("diagnostic at line %d; want the first RUN past the bound", line)
	}
}

// TestDoublingValuesBounded: ENV lines that each double the last value grow
// exponentially; every expanded value is bounded, so 40 such lines are an
// error at the line that crosses the bound, not gigabytes of memory.
func TestDoublingValuesBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("FROM busybox\nENV E0=x\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "ENV E%d=$E%d$E%d\n", i, i-1, i-1)
	}
	b.WriteString("RUN echo $E40\n")
	src := []byte(b.String())
	_, diags := Import("Dockerfile", src, Options{Platform: testPlatform})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "more than the 1048576 a Dockerfile value may have") || diags[0].Subject.Start.Line != 23 {
		t.Errorf("Import diagnostics = %v; want the bound at line 23 (E21, 2 MiB)", diags)
	}
	if _, diags := Convert("Dockerfile", src, ConvertOptions{Platform: testPlatform}); !diags.HasErrors() {
		t.Error("Convert accepted a value over the bound")
	}
}

// TestDoublingTemplates: ENV lines that double an ARG's references
// (E1=$E0$E0, E2=$E1$E1, ...) made templates, and the converted file, grow
// exponentially (18 lines: 4.7 MB and 20 s; each more line doubled both).
// Past maxTemplate the value is kept, with a warning.
func TestDoublingTemplates(t *testing.T) {
	var b strings.Builder
	b.WriteString("FROM busybox\nARG E0=x\n")
	const n = 18
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "ENV E%d=$E%d$E%d\n", i, i-1, i-1)
	}
	fmt.Fprintf(&b, "RUN echo $E%d\n", n)
	var out []byte
	var diags hcl.Diagnostics
	bytes := allocated(func() { out, diags = Convert("Dockerfile", []byte(b.String()), ConvertOptions{Platform: testPlatform}) })
	t.Logf("Convert allocated %d bytes", bytes)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	// The values themselves double: E18 is 256 KiB, all of them 512 KiB.
	if len(out) > 1<<20 {
		t.Errorf("the conversion is %d bytes; want the values and bounded templates, under 1 MiB", len(out))
	}
	warned := false
	for _, d := range diags {
		warned = warned || d.Summary == "Variable reference not kept"
	}
	if !warned {
		t.Error("no \"Variable reference not kept\" warning for the values kept as constants")
	}
	if !strings.Contains(string(out), "E5  = \"${var.E0}") {
		t.Errorf("short chains lost their templates:\n%.600s", out)
	}
	// Bounded templates take about 140 MB; unbounded, 18 lines took 20 s.
	if bytes > 1<<30 {
		t.Errorf("Convert allocated %d bytes; want under 1 GiB: the templates are not bounded", bytes)
	}
}
