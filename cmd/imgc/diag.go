package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/term"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/ir"
)

// report prints diagnostics in HCL's text format with source snippets and
// returns an exitError when any of them is an error.
func (e *env) report(files map[string]*hcl.File, diags hcl.Diagnostics) error {
	diags = dedupe(diags)
	if len(diags) == 0 {
		return nil
	}
	all := map[string]*hcl.File{}
	for k, v := range files {
		all[k] = v
	}
	for _, d := range diags {
		for _, r := range []*hcl.Range{d.Subject, d.Context} {
			if r != nil {
				loadFile(all, r.Filename)
				fixOffsets(all, r)
				// Name the file as the user would type it.
				if rel := relPath(r.Filename); rel != r.Filename && all[r.Filename] != nil {
					all[rel] = all[r.Filename]
					r.Filename = rel
				}
			}
		}
	}
	width := 0
	if f, ok := e.stderr.(*os.File); ok && e.tty {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil {
			width = w
		}
	}
	wr := hcl.NewDiagnosticTextWriter(e.stderr, all, uint(width), e.tty)
	_ = wr.WriteDiagnostics(diags)
	if diags.HasErrors() {
		return exitError{exitBadInput}
	}
	return nil
}

// dedupe drops repeated diagnostics: two front ends (import, then convert)
// may find the same thing.
func dedupe(diags hcl.Diagnostics) hcl.Diagnostics {
	seen := map[string]bool{}
	var out hcl.Diagnostics
	for _, d := range diags {
		k := fmt.Sprintf("%d\x00%s\x00%s", d.Severity, d.Summary, d.Detail)
		if d.Subject != nil {
			k += fmt.Sprintf("\x00%s:%d:%d", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}

// errorsOnly keeps the errors, for a second pass over input whose warnings
// were already shown.
func errorsOnly(diags hcl.Diagnostics) hcl.Diagnostics {
	var out hcl.Diagnostics
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			out = append(out, d)
		}
	}
	return out
}

// loadFile reads a source file that a diagnostic names but the loader did
// not keep, so every diagnostic gets its snippet.
func loadFile(files map[string]*hcl.File, name string) {
	if name == "" || files[name] != nil {
		return
	}
	if b, err := os.ReadFile(name); err == nil {
		files[name] = &hcl.File{Bytes: b}
	}
}

// originRange turns an IR origin back into an HCL range with byte offsets,
// so the diagnostic writer can underline the source. A whole-line origin
// (no end column: Dockerfiles) runs to the end of its last line.
func originRange(files map[string]*hcl.File, o ir.Origin) *hcl.Range {
	if o.File == "" {
		return nil
	}
	loadFile(files, o.File)
	r := &hcl.Range{
		Filename: o.File,
		Start:    hcl.Pos{Line: o.Line, Column: max(o.Column, 1)},
		End:      hcl.Pos{Line: max(o.EndLine, o.Line), Column: max(o.EndColumn, 1)},
	}
	if f := files[o.File]; f != nil && o.EndColumn == 0 {
		lines := strings.SplitAfter(string(f.Bytes), "\n")
		if r.End.Line-1 < len(lines) {
			r.End.Column = len(strings.TrimRight(lines[r.End.Line-1], "\n")) + 1
		}
	}
	fixOffsets(files, r)
	return r
}

// fixOffsets fills in the byte offsets of a range built from lines and
// columns only (IR origins, compiler and importer ranges), which the
// diagnostic writer needs to show the right snippet.
func fixOffsets(files map[string]*hcl.File, r *hcl.Range) {
	f := files[r.Filename]
	if f == nil || r.Start.Byte != 0 || r.End.Byte != 0 {
		return // HCL's own ranges carry their offsets
	}
	lines := strings.SplitAfter(string(f.Bytes), "\n")
	r.Start.Byte = lineOffset(lines, r.Start.Line) + max(r.Start.Column, 1) - 1
	end := lineOffset(lines, r.End.Line) + max(r.End.Column, 1) - 1
	r.End.Byte = max(end, r.Start.Byte)
}

func lineOffset(lines []string, line int) int {
	off := 0
	for i := 0; i < line-1 && i < len(lines); i++ {
		off += len(lines[i])
	}
	return off
}

// reportBuildError renders a runtime error: a failed step becomes one
// diagnostic per source origin, with its exit status and output tail.
func (e *env) reportBuildError(files map[string]*hcl.File, err error) error {
	if e.ctx.Err() != nil {
		fmt.Fprintln(e.stderr, "imgc: build interrupted; the cache and earlier outputs are intact")
		return exitError{exitFailed}
	}
	var se *engine.StepError
	if !errors.As(err, &se) {
		fmt.Fprintf(e.stderr, "imgc: %v\n", err)
		return exitError{exitFailed}
	}
	all := map[string]*hcl.File{}
	for k, v := range files {
		all[k] = v
	}
	var detail strings.Builder
	if se.ExitCode != 0 {
		fmt.Fprintf(&detail, "The command exited with status %d.", se.ExitCode)
	} else if se.Err != nil {
		fmt.Fprintf(&detail, "%v.", se.Err)
	}
	if len(se.Tail) > 0 {
		detail.WriteString(" Its last output lines:\n")
		for _, l := range se.Tail {
			detail.WriteString("  │ " + l + "\n")
		}
	}
	detail.WriteString("\nLayers built before this step are cached; fix the step and build again to resume from here.")
	summary := "Build step failed"
	if se.Target != "" {
		summary = fmt.Sprintf("Build step failed in %q", se.Target)
	}
	var diags hcl.Diagnostics
	for _, o := range se.Origins {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail.String(), Subject: originRange(all, o)})
	}
	if len(diags) == 0 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail.String()})
	}
	_ = e.report(all, diags)
	return exitError{exitFailed}
}

// relPath is path (or "path:line") relative to the working directory when
// it lies below it, as people and editors expect.
func relPath(path string) string {
	if !filepath.IsAbs(path) {
		return path
	}
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if r, ok := strings.CutPrefix(path, wd+string(filepath.Separator)); ok {
		return r
	}
	return path
}

func hostArch() string { return runtime.GOARCH }
