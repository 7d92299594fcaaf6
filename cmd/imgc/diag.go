package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/term"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/ir"
)

// report prints diagnostics in HCL's text format with source snippets and
// returns an exitError when any of them is an error.
func (e *env) report(files map[string]*hcl.File, diags hcl.Diagnostics) error {
	diags = sortDiagnostics(dedupe(diags))
	if len(diags) == 0 {
		return nil
	}
	hasErrors := diags.HasErrors()
	shown, more := diags, hcl.Diagnostics(nil)
	if len(diags) > maxDiagnostics {
		shown, more = diags[:maxDiagnostics], diags[maxDiagnostics:]
	}
	diags = shown
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
	// The writer scans a diagnostic's whole file for its snippet lines;
	// given just those lines it stays fast on large files.
	one := map[string]*hcl.File{}
	wr := hcl.NewDiagnosticTextWriter(e.stderr, one, uint(width), e.tty)
	for _, d := range diags {
		clear(one)
		if d.Subject != nil {
			if f := all[d.Subject.Filename]; f != nil {
				d, one[d.Subject.Filename] = snippetOf(f, d)
			}
		}
		_ = wr.WriteDiagnostic(d)
	}
	if len(more) > 0 {
		fmt.Fprintf(e.stderr, "%s not shown: fix the ones above first, the rest often follow from them.\n", countDiagnostics(more))
	}
	if hasErrors {
		return exitError{exitBadInput}
	}
	return nil
}

// snippetOf cuts f down to the lines d's subject and context cover,
// preceded by empty lines so that line numbers stay right, and moves d's
// byte offsets to match. A single line longer than maxSnippetLine is cut
// to the part around the subject.
func snippetOf(f *hcl.File, d *hcl.Diagnostic) (*hcl.Diagnostic, *hcl.File) {
	moved := *d
	if c := d.Context; c != nil && c.Filename != d.Subject.Filename {
		moved.Context = nil
	}
	first, last := d.Subject.Start.Line, d.Subject.End.Line
	if c := moved.Context; c != nil {
		first, last = min(first, c.Start.Line), max(last, c.End.Line)
	}
	start, ok := lineStart(f.Bytes, first)
	if !ok || first < 1 {
		return d, f
	}
	end, _ := lineStart(f.Bytes, last+1)
	for _, r := range []*hcl.Range{moved.Subject, moved.Context} {
		if r != nil && (r.Start.Byte < start || r.End.Byte > end) {
			return d, f // offsets disagree with lines: leave it to the writer
		}
	}
	lineEnd := end
	if lineEnd > start && f.Bytes[lineEnd-1] == '\n' {
		lineEnd--
	}
	from, to, prefix, suffix := start, end, "", ""
	if first == last && lineEnd-start > maxSnippetLine {
		lo := d.Subject.Start.Byte
		hi := min(max(d.Subject.End.Byte, lo+1), lo+maxSnippetLine)
		from, to = max(start, lo-snippetMargin), min(lineEnd, hi+snippetMargin)
		for from > start && !utf8.RuneStart(f.Bytes[from]) {
			from--
		}
		for to < lineEnd && !utf8.RuneStart(f.Bytes[to]) {
			to++
		}
		if from > start {
			prefix = "…"
		}
		if to < lineEnd {
			suffix = "…"
		}
		suffix += "\n"
	}
	shift := from - (first - 1) - len(prefix)
	src := make([]byte, 0, first-1+len(prefix)+to-from+len(suffix))
	src = append(src, bytes.Repeat([]byte{'\n'}, first-1)...)
	src = append(src, prefix...)
	src = append(src, f.Bytes[from:to]...)
	src = append(src, suffix...)
	moved.Subject = moveRange(moved.Subject, from, to, shift)
	moved.Context = moveRange(moved.Context, from, to, shift)
	return &moved, &hcl.File{Bytes: src, Nav: shiftedNav{f.Nav, shift}}
}

// Long lines (minified or hostile input) are shown in part.
const (
	maxSnippetLine = 200
	snippetMargin  = 60
)

// moveRange clips r to the bytes [from, to) and moves it back by shift.
func moveRange(r *hcl.Range, from, to, shift int) *hcl.Range {
	if r == nil {
		return nil
	}
	s := *r
	s.Start.Byte = min(max(s.Start.Byte, from), to) - shift
	s.End.Byte = min(max(s.End.Byte, from), to) - shift
	return &s
}

// shiftedNav answers the writer's "in image ..." question with the
// original file's navigation.
type shiftedNav struct {
	nav   any
	shift int
}

func (n shiftedNav) ContextString(offset int) string {
	if c, ok := n.nav.(interface{ ContextString(int) string }); ok {
		return c.ContextString(offset + n.shift)
	}
	return ""
}

// maxDiagnostics is how many diagnostics report shows: a screenful. Broken
// or hostile input can make thousands, and each one shown costs a pass
// over its file.
const maxDiagnostics = 20

// countDiagnostics says how many errors and warnings diags holds, as
// "And 3 more errors and 1 more warning".
func countDiagnostics(diags hcl.Diagnostics) string {
	errs, warns := 0, 0
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs++
		} else {
			warns++
		}
	}
	var parts []string
	for _, c := range []struct {
		n    int
		what string
	}{{errs, "error"}, {warns, "warning"}} {
		switch {
		case c.n == 1:
			parts = append(parts, "1 more "+c.what)
		case c.n > 1:
			parts = append(parts, fmt.Sprintf("%d more %ss", c.n, c.what))
		}
	}
	return "And " + strings.Join(parts, " and ")
}

// dedupe drops repeated diagnostics: two front ends (import, then convert)
// may find the same thing.
func dedupe(diags hcl.Diagnostics) hcl.Diagnostics {
	seen := map[string]bool{}
	// A base that cannot be read is an error of its own: the front end's
	// warning at the same FROM (its ONBUILD triggers not read) only
	// repeats it.
	baseErr := map[string]bool{}
	for _, d := range diags {
		if d.Severity == hcl.DiagError && d.Subject != nil && strings.HasPrefix(d.Summary, "Base image") {
			baseErr[fmt.Sprintf("%s:%d", d.Subject.Filename, d.Subject.Start.Line)] = true
		}
	}
	var out hcl.Diagnostics
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning && d.Subject != nil && strings.HasPrefix(d.Summary, "Base image") &&
			baseErr[fmt.Sprintf("%s:%d", d.Subject.Filename, d.Subject.Start.Line)] {
			continue
		}
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

// sortDiagnostics orders diags by file, line and column, as compilers
// print them; those without a source location (command-line mistakes)
// come first, in the order they were found.
func sortDiagnostics(diags hcl.Diagnostics) hcl.Diagnostics {
	out := append(hcl.Diagnostics(nil), diags...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Subject, out[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		case a.Start.Line != b.Start.Line:
			return a.Start.Line < b.Start.Line
		}
		return a.Start.Column < b.Start.Column
	})
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

// originRange is an IR origin as a diagnostic's range (ir.Origin.Range).
// A Dockerfile's whole-line origin (no end column, no byte offsets) runs
// to the end of its last line, which only its file can tell.
func originRange(files map[string]*hcl.File, o ir.Origin) *hcl.Range {
	r := o.Range()
	if r == nil || o.HasBytes() {
		return r
	}
	loadFile(files, o.File)
	if f := files[o.File]; f != nil && o.EndColumn == 0 {
		if start, ok := lineStart(f.Bytes, r.End.Line); ok {
			line := f.Bytes[start:]
			if i := bytes.IndexByte(line, '\n'); i >= 0 {
				line = line[:i]
			}
			r.End.Column = len(line) + 1
		}
	}
	fixOffsets(files, r)
	return r
}

// fixOffsets fills in the byte offsets of a range built from lines and
// columns only (the Dockerfile importer's), which the diagnostic writer
// needs to show the right snippet.
func fixOffsets(files map[string]*hcl.File, r *hcl.Range) {
	f := files[r.Filename]
	if f == nil || r.Start.Byte != 0 || r.End.Byte != 0 {
		return // HCL's own ranges carry their offsets
	}
	start, _ := lineStart(f.Bytes, r.Start.Line)
	r.Start.Byte = start + max(r.Start.Column, 1) - 1
	end, _ := lineStart(f.Bytes, r.End.Line)
	r.End.Byte = max(end+max(r.End.Column, 1)-1, r.Start.Byte)
}

// lineStart is the byte offset where line (1-based) begins in src, or
// len(src) and false when src has fewer lines. It reads only up to that
// line.
func lineStart(src []byte, line int) (int, bool) {
	off := 0
	for i := 1; i < line; i++ {
		j := bytes.IndexByte(src[off:], '\n')
		if j < 0 {
			return len(src), false
		}
		off += j + 1
	}
	return off, true
}

// reportBuildError renders a runtime error: a failed step becomes one
// diagnostic per source origin, with its exit status and output tail.
func (e *env) reportBuildError(files map[string]*hcl.File, err error) error {
	if e.ctx.Err() != nil {
		fmt.Fprintln(e.stderr, "imgc: interrupted; the cache and earlier outputs are intact")
		return exitError{exitFailed}
	}
	var se *engine.StepError
	if !errors.As(err, &se) {
		fmt.Fprintf(e.stderr, "imgc: %v\n", registryError(err))
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
	summary := "Build step failed"
	if se.Target != "" {
		summary = fmt.Sprintf("Build step failed in %q", se.Target)
	}
	// An engine's refusal before anything ran names itself.
	var refusal interface{ Summary() string }
	if errors.As(se.Err, &refusal) {
		summary = refusal.Summary()
	} else {
		detail.WriteString("\nLayers built before this step are cached; fix the step and build again to resume from here.")
	}
	// One failure, one diagnostic: at the step's line and, for a step of
	// a step definition, naming the definition's block too (it was
	// reported twice, output and all, as if two steps had failed).
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary}
	if len(se.Origins) > 0 {
		d.Subject = originRange(all, se.Origins[0])
	}
	for _, o := range se.Origins[min(1, len(se.Origins)):] {
		fmt.Fprintf(&detail, "\nThe step is the one the step definition writes at %s.", relPath(o.String()))
	}
	d.Detail = detail.String()
	diags := hcl.Diagnostics{d}
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

// validateJSON prints diags as terraform validate -json does, on stdout:
// {"format_version","valid","error_count","warning_count","diagnostics":
// [{"severity","summary","detail","range":{"filename","start","end"}}]}.
// It exits as validate does.
func (e *env) validateJSON(diags hcl.Diagnostics) error {
	type pos struct {
		Line   int `json:"line"`
		Column int `json:"column"`
		Byte   int `json:"byte"`
	}
	type rng struct {
		Filename string `json:"filename"`
		Start    pos    `json:"start"`
		End      pos    `json:"end"`
	}
	type diag struct {
		Severity string `json:"severity"`
		Summary  string `json:"summary"`
		Detail   string `json:"detail,omitempty"`
		Range    *rng   `json:"range,omitempty"`
	}
	out := struct {
		FormatVersion string `json:"format_version"`
		Valid         bool   `json:"valid"`
		ErrorCount    int    `json:"error_count"`
		WarningCount  int    `json:"warning_count"`
		Diagnostics   []diag `json:"diagnostics"`
	}{FormatVersion: "1.0", Diagnostics: []diag{}}
	for _, d := range sortDiagnostics(dedupe(diags)) {
		j := diag{Severity: "warning", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagError {
			j.Severity = "error"
			out.ErrorCount++
		} else {
			out.WarningCount++
		}
		if r := d.Subject; r != nil {
			j.Range = &rng{Filename: relPath(r.Filename),
				Start: pos{r.Start.Line, r.Start.Column, r.Start.Byte}, End: pos{r.End.Line, r.End.Column, r.End.Byte}}
		}
		out.Diagnostics = append(out.Diagnostics, j)
	}
	out.Valid = out.ErrorCount == 0
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return err
	}
	if !out.Valid {
		return exitError{exitBadInput}
	}
	return nil
}
