package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hexops/gotextdiff"
	"github.com/hexops/gotextdiff/myers"
	"github.com/hexops/gotextdiff/span"

	"github.com/imgc-dev/imgc/lang"
)

type fmtCmd struct {
	Check     bool     `help:"Change nothing; list the files that are not formatted and exit 3 if there are any."`
	Diff      bool     `help:"Print the changes as a unified diff, as terraform fmt -diff does."`
	Recursive bool     `hidden:"" help:"Terraform's -recursive: directories are searched recursively anyway."`
	Paths     []string `arg:"" optional:"" help:"Files or directories (default: the current directory; directories are searched recursively), or - to format standard input to standard output, as terraform fmt - does."`
}

func (c *fmtCmd) Run(e *env) error {
	if len(c.Paths) == 1 && c.Paths[0] == "-" {
		return c.stdin(e)
	}
	paths := c.Paths
	if len(paths) == 0 {
		paths = []string{"."}
	}
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			fmt.Fprintf(e.stderr, "imgc fmt: %s does not exist; give .image.hcl files or directories.\n", p)
			return exitError{exitBadInput}
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != p && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if !d.IsDir() && (strings.HasSuffix(path, ".image.hcl") || strings.HasSuffix(path, ".vars.hcl") || d.Name() == "imgc.lock.hcl") {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("walking %s: %w", p, err)
		}
	}
	unformatted := 0
	failed := false
	for _, f := range files {
		src, diags := lang.ReadSource(f, "Configuration file")
		if diags.HasErrors() {
			_ = e.report(nil, diags)
			failed = true
			continue
		}
		out, diags := lang.FormatFile(src, f)
		if diags.HasErrors() {
			// A file that does not parse is reported, never rewritten.
			_ = e.report(map[string]*hcl.File{f: {Bytes: src}}, diags)
			failed = true
			continue
		}
		if bytes.Equal(src, out) {
			continue
		}
		unformatted++
		fmt.Fprintln(e.stdout, f)
		if c.Diff {
			edits := myers.ComputeEdits(span.URIFromPath(f), string(src), string(out))
			fmt.Fprint(e.stdout, fixHunkHeaders(fmt.Sprint(gotextdiff.ToUnified("old/"+filepath.ToSlash(f), "new/"+filepath.ToSlash(f), string(src), edits))))
		}
		if c.Check {
			continue
		}
		st, _ := os.Stat(f)
		tmp := f + ".imgc-fmt"
		if err := os.WriteFile(tmp, out, st.Mode().Perm()); err != nil {
			return fmt.Errorf("writing %s: %w", f, err)
		}
		if err := os.Rename(tmp, f); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("writing %s: %w", f, err)
		}
	}
	if failed {
		return exitError{exitBadInput}
	}
	if c.Check && unformatted > 0 {
		fmt.Fprintf(e.stderr, "imgc fmt: %d %s not formatted; run `imgc fmt` to fix.\n", unformatted, plural(unformatted, "file is", "files are"))
		return exitError{3}
	}
	return nil
}

// hunkHeader is a unified diff's "@@ -A,B +C,D @@".
var hunkHeader = regexp.MustCompile(`^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@`)

// fixHunkHeaders recounts each hunk's header of a unified diff from its
// lines: gotextdiff numbers the new file's lines wrongly after the first
// hunk (+19 where diff -u says +24 when the hunks before added and removed
// as many lines).
func fixHunkHeaders(diff string) string {
	lines := strings.SplitAfter(diff, "\n")
	offset := 0 // lines the hunks so far added, less those they removed
	for i := 0; i < len(lines); i++ {
		m := hunkHeader.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		oldStart, _ := strconv.Atoi(m[1])
		oldN, newN := 0, 0
		for _, l := range lines[i+1:] {
			if strings.HasPrefix(l, "@@") {
				break
			}
			switch {
			case strings.HasPrefix(l, " "):
				oldN++
				newN++
			case strings.HasPrefix(l, "-"):
				oldN++
			case strings.HasPrefix(l, "+"):
				newN++
			}
		}
		newStart := oldStart + offset
		if oldN == 0 {
			newStart++ // "-A,0" names the line before; "+C" the first added
		}
		if newN == 0 {
			newStart--
		}
		lines[i] = fmt.Sprintf("@@ -%d,%d +%d,%d @@", oldStart, oldN, newStart, newN) + lines[i][len(m[0]):]
		offset += newN - oldN
	}
	return strings.Join(lines, "")
}

// stdin formats standard input to standard output, for editors: nothing
// else is written, and a source that does not parse is reported, with
// nothing written. With --diff it writes the change as a diff instead;
// with --check it exits 3 when the source is not formatted.
func (c *fmtCmd) stdin(e *env) error {
	src, err := io.ReadAll(io.LimitReader(os.Stdin, lang.MaxSourceSize+1))
	if err != nil {
		return fmt.Errorf("reading standard input: %w", err)
	}
	if len(src) > lang.MaxSourceSize {
		fmt.Fprintf(e.stderr, "imgc fmt: standard input holds more than %d bytes, more than a configuration file may.\n", lang.MaxSourceSize)
		return exitError{exitBadInput}
	}
	const name = "<stdin>"
	out, diags := lang.FormatFile(src, name)
	if diags.HasErrors() {
		_ = e.report(map[string]*hcl.File{name: {Bytes: src}}, diags)
		return exitError{exitBadInput}
	}
	if c.Diff {
		if !bytes.Equal(src, out) {
			edits := myers.ComputeEdits(span.URIFromPath(name), string(src), string(out))
			fmt.Fprint(e.stdout, fixHunkHeaders(fmt.Sprint(gotextdiff.ToUnified("old/"+name, "new/"+name, string(src), edits))))
		}
	} else if !c.Check {
		if _, err := e.stdout.Write(out); err != nil {
			return err
		}
	}
	if c.Check && !bytes.Equal(src, out) {
		return exitError{3}
	}
	return nil
}
