package main

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/imgc-dev/imgc/imageio"
)

// TestReportManyDiagnostics: 1 MB of garbage makes tens of thousands of
// diagnostics. imgc shows a screenful and counts the rest, and rendering
// no longer rescans the file per diagnostic (this took over 30 s).
func TestReportManyDiagnostics(t *testing.T) {
	validate := func(size int) (string, uint64) {
		rnd := rand.New(rand.NewSource(1))
		const alphabet = "}])=\"\n abc,.#$%!-?"
		src := make([]byte, size)
		for i := range src {
			src[i] = alphabet[rnd.Intn(len(alphabet))]
		}
		path := filepath.Join(t.TempDir(), "garbage.image.hcl")
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		code := run([]string{"validate", path}, &stdout, &stderr)
		runtime.ReadMemStats(&after)
		if code != exitBadInput {
			t.Errorf("exit status %d; want %d", code, exitBadInput)
		}
		return stderr.String(), after.TotalAlloc - before.TotalAlloc
	}
	_, half := validate(500_000)
	out, full := validate(1_000_000)
	if n := strings.Count(out, "Error: "); n != maxDiagnostics {
		t.Errorf("%d diagnostics shown; want %d", n, maxDiagnostics)
	}
	if !strings.Contains(out, " more errors not shown") {
		t.Errorf("no count of the diagnostics not shown in:\n%s", out)
	}
	// Linear, twice the garbage allocates about twice the bytes; rescanning
	// the file per diagnostic is four times.
	t.Logf("allocated %d bytes for half the file, %d for all", half, full)
	if ratio := float64(full) / float64(half); ratio > 3 {
		t.Errorf("twice the file allocated %.1f times the bytes (%d, %d); want about twice: the work is not linear", ratio, half, full)
	}
}

// TestReportSnippets: rendering each diagnostic from the lines it shows
// gives exactly what HCL's writer gives from the whole file, and cuts a
// very long line around its subject.
func TestReportSnippets(t *testing.T) {
	src := []byte("image \"a\" {\n  from = \"x\"\n  bogus = 1\n}\n\nimage \"b\" {\n  run {\n    sh = 3\n  }\n}\n")
	f, diags := hclsyntax.ParseConfig(src, "t.image.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	sub := func(line, col, endCol int) *hcl.Range {
		r := &hcl.Range{Filename: "t.image.hcl", Start: hcl.Pos{Line: line, Column: col}, End: hcl.Pos{Line: line, Column: endCol}}
		fixOffsets(map[string]*hcl.File{"t.image.hcl": f}, r)
		return r
	}
	ctx := sub(6, 1, 12)
	ctx.End = hcl.Pos{Line: 10, Column: 2, Byte: len(src) - 1}
	diags = hcl.Diagnostics{
		{Severity: hcl.DiagError, Summary: "First", Detail: "d", Subject: sub(3, 3, 8)},
		{Severity: hcl.DiagWarning, Summary: "With context", Detail: "d", Subject: sub(8, 10, 11), Context: ctx},
		{Severity: hcl.DiagError, Summary: "Line 1", Detail: "d", Subject: sub(1, 1, 6)},
	}
	var want bytes.Buffer
	// imgc prints them sorted by line.
	_ = hcl.NewDiagnosticTextWriter(&want, map[string]*hcl.File{"t.image.hcl": f}, 0, false).WriteDiagnostics(sortDiagnostics(diags))
	var got bytes.Buffer
	e := &env{ctx: context.Background(), stdout: &got, stderr: &got}
	_ = e.report(map[string]*hcl.File{"t.image.hcl": f}, diags)
	if diff := cmp.Diff(want.String(), got.String()); diff != "" {
		t.Errorf("rendering (-hcl +imgc):\n%s", diff)
	}

	long := []byte("x = \"" + strings.Repeat("a", 100000) + "\" + nope + \"" + strings.Repeat("b", 100000) + "\"\n")
	at := bytes.Index(long, []byte("nope"))
	r := &hcl.Range{Filename: "l.image.hcl", Start: hcl.Pos{Line: 1, Column: at + 1, Byte: at}, End: hcl.Pos{Line: 1, Column: at + 5, Byte: at + 4}}
	got.Reset()
	_ = e.report(map[string]*hcl.File{"l.image.hcl": {Bytes: long}}, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Long", Subject: r}})
	wantLine := "   1: …" + strings.Repeat("a", snippetMargin-4) + "\" + nope + \"" + strings.Repeat("b", snippetMargin-4) + "…\n"
	if !strings.Contains(got.String(), wantLine) {
		t.Errorf("long line rendered as:\n%s\nwant the line:\n%s", got.String(), wantLine)
	}
}

// TestSortDiagnostics: diagnostics come by file, line and column, those
// without a location first, whatever order the passes found them in.
func TestSortDiagnostics(t *testing.T) {
	at := func(file string, line, col int) *hcl.Range {
		return &hcl.Range{Filename: file, Start: hcl.Pos{Line: line, Column: col}, End: hcl.Pos{Line: line, Column: col + 1}}
	}
	diags := hcl.Diagnostics{
		{Summary: "b.hcl 2", Subject: at("b.hcl", 2, 1)},
		{Summary: "a.hcl 9", Subject: at("a.hcl", 9, 1)},
		{Summary: "flag 1"},
		{Summary: "a.hcl 3:5", Subject: at("a.hcl", 3, 5)},
		{Summary: "a.hcl 3:2", Subject: at("a.hcl", 3, 2)},
		{Summary: "flag 2"},
	}
	var got []string
	for _, d := range sortDiagnostics(diags) {
		got = append(got, d.Summary)
	}
	want := []string{"flag 1", "flag 2", "a.hcl 3:2", "a.hcl 3:5", "a.hcl 9", "b.hcl 2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

// TestRegistryErrorListsEveryFailedPush: a build that pushed some tags
// and failed others lists each failed one, with why, in a sentence.
func TestRegistryErrorListsEveryFailedPush(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	err := imageio.PushErrors{}.
		Add(&imageio.PushError{Dest: "a.example/app:1", Err: &url.Error{Op: "Get", URL: "https://a.example/v2/", Err: refused}}).
		Add(&imageio.PushError{Dest: "b.example/app:1", Err: errors.New("disk full")}).Err()
	got := registryError(err).Error()
	for _, want := range []string{"2 pushes failed", "pushing a.example/app:1: the registry a.example refused the connection", "pushing b.example/app:1: disk full", "imgc push"} {
		if !strings.Contains(got, want) {
			t.Errorf("registryError = %q, want it to say %q", got, want)
		}
	}
	if strings.Contains(got, "dial tcp") {
		t.Errorf("registryError = %q: a Go error chain", got)
	}
}
