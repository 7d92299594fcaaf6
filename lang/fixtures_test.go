package lang

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/model"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/valid")

// A fixture is a *.image.hcl file or a directory of them under testdata.
// Comment directives set Load's options:
//
//	# OPTION --var NAME=VALUE
//	# OPTION --var-file FILE        (relative to testdata/<valid|invalid>)
//	# OPTION env NAME=VALUE
//
// Invalid fixtures mark each expected diagnostic on the line of its
// subject: `# ERROR: Summary` (several may follow each other on one
// line), and `# ERROR(global): Summary` anywhere for one without a
// subject. Var files may carry markers too.
func fixtures(t *testing.T, kind string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("testdata", kind))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), FileSuffix) {
			out = append(out, filepath.Join("testdata", kind, e.Name()))
		}
	}
	if len(out) == 0 {
		t.Fatalf("no fixtures in testdata/%s", kind)
	}
	return out
}

func fixtureFiles(t *testing.T, fixture string) []string {
	t.Helper()
	fi, err := os.Stat(fixture)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() {
		return []string{fixture}
	}
	// Also the files of modules in subdirectories.
	var files []string
	err = filepath.WalkDir(fixture, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, FileSuffix) {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

var (
	optionLine = regexp.MustCompile(`#\s*OPTION\s+(--var|--var-file|env)\s+(\S+)`)
	errorMark  = regexp.MustCompile(`ERROR(\(global\))?:\s*([^#]*[^#\s])`)
)

func fixtureOptions(t *testing.T, fixture string) (Options, []string) {
	t.Helper()
	var environ, files []string
	var cmdline []VarSource
	vars := map[string]string{}
	for _, f := range fixtureFiles(t, fixture) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range optionLine.FindAllStringSubmatch(string(src), -1) {
			switch m[1] {
			case "--var":
				k, v, _ := strings.Cut(m[2], "=")
				vars[k] = v
			case "--var-file":
				files = append(files, filepath.Join(filepath.Dir(fixture), m[2]))
				cmdline = append(cmdline, VarSource{Kind: VarFile, Path: files[len(files)-1]})
			case "env":
				environ = append(environ, m[2])
			}
		}
	}
	return Options{Vars: VarSources("", environ, append(cmdline, FlagVars(vars)...))}, files
}

type mark struct {
	File    string // base name; "" for a diagnostic without a subject
	Line    int
	Summary string
}

func expectedMarks(t *testing.T, files []string) []mark {
	t.Helper()
	var marks []mark
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(src))
		for line := 1; sc.Scan(); line++ {
			text := sc.Text()
			i := strings.Index(text, "#")
			if i < 0 {
				continue
			}
			for _, m := range errorMark.FindAllStringSubmatch(text[i:], -1) {
				if m[1] != "" {
					marks = append(marks, mark{Summary: m[2]})
				} else {
					marks = append(marks, mark{File: filepath.Base(f), Line: line, Summary: m[2]})
				}
			}
		}
	}
	return sortMarks(marks)
}

func diagMarks(diags hcl.Diagnostics) []mark {
	var marks []mark
	for _, d := range diags {
		m := mark{Summary: d.Summary}
		if d.Subject != nil {
			m.File, m.Line = filepath.Base(d.Subject.Filename), d.Subject.Start.Line
		}
		marks = append(marks, m)
	}
	return sortMarks(marks)
}

func sortMarks(marks []mark) []mark {
	sort.Slice(marks, func(i, j int) bool {
		a, b := marks[i], marks[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Summary < b.Summary
	})
	return marks
}

func TestInvalidFixtures(t *testing.T) {
	for _, fixture := range fixtures(t, "invalid") {
		t.Run(filepath.Base(fixture), func(t *testing.T) {
			opts, varFiles := fixtureOptions(t, fixture)
			files := fixtureFiles(t, fixture)
			files = append(files, varFiles...)
			want := expectedMarks(t, files)
			if len(want) == 0 {
				t.Fatal("an invalid fixture must mark at least one expected error")
			}
			cfg, diags := Load(fixture, opts)
			if cfg == nil {
				t.Fatal("Load returned a nil Config")
			}
			if diff := cmp.Diff(want, diagMarks(diags)); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s\nall diagnostics:\n%s", diff, renderDiags(diags))
			}
			for _, d := range diags {
				checkDiagnosticWording(t, d)
			}
		})
	}
}

func TestValidFixtures(t *testing.T) {
	for _, fixture := range fixtures(t, "valid") {
		t.Run(filepath.Base(fixture), func(t *testing.T) {
			cfg, diags := Load(fixture, firstOf(fixtureOptions(t, fixture)))
			if len(diags) > 0 {
				t.Fatalf("unexpected diagnostics:\n%s", renderDiags(diags))
			}
			got := goldenJSON(t, cfg)
			golden := strings.TrimSuffix(fixture, FileSuffix) + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("reading golden file (run go test -update to create it): %v", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

// goldenJSON renders a Config for a golden file: ranges as FILE:LINE,
// steps tagged with their kind, no parsed files and no directory.
func goldenJSON(t *testing.T, cfg *model.Config) []byte {
	t.Helper()
	type taggedStep struct {
		Kind string
		Step any
	}
	var tag func(steps []model.Step) []taggedStep
	tag = func(steps []model.Step) []taggedStep {
		var out []taggedStep
		for _, s := range steps {
			switch s := s.(type) {
			case *model.Run:
				out = append(out, taggedStep{"run", legacyRun(t, s)})
			case *model.Copy:
				out = append(out, taggedStep{"copy", legacyCopy(t, s)})
			case *model.Add:
				out = append(out, taggedStep{"add", s})
			case *model.Mkdir:
				out = append(out, taggedStep{"mkdir", s})
			case *model.Layer:
				out = append(out, taggedStep{"layer", struct {
					Name  string
					Steps []taggedStep
					Range hcl.Range
				}{s.Name, tag(s.Steps), s.Range}})
			}
		}
		return out
	}
	type stage struct {
		*model.Stage
		From  map[string]any
		Steps []taggedStep
	}
	var stages []stage
	for _, s := range cfg.Stages {
		from := legacyBase(s.From.Base, "Scratch", "Ref", "Stage")
		from["Range"] = s.From.Range
		stages = append(stages, stage{s, from, tag(s.Steps)})
	}
	raw, err := json.Marshal(struct {
		Stages []stage
		Vars   map[string]string
		Order  []string
	}{stages, cfg.Vars, stageNames(model.TopoOrder(cfg))})
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		t.Fatal(err)
	}
	out, err := json.MarshalIndent(simplify(tree), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

// The golden files keep the shape the model had before its sum types: a
// base as Scratch, Ref or Stage; a command as Sh or Exec (with IsExec); a
// copy or mount source as FromStage or FromRef. The legacy functions
// render the model in it, so that the files show that evaluation did not
// change.

func legacyBase(b model.Base, scratch, ref, stage string) map[string]any {
	out := map[string]any{}
	switch b := b.(type) {
	case *model.Scratch:
		if scratch != "" {
			out[scratch] = true
		} else {
			out[ref] = "scratch"
		}
	case *model.Image:
		out[ref] = b.Ref.Qualified()
	case *model.Target:
		out[stage] = b.Name
	}
	return out
}

// asMap is v as JSON would render it, less the fields named in drop.
func asMap(t *testing.T, v any, drop ...string) map[string]any {
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range drop {
		delete(m, k)
	}
	return m
}

func legacyRun(t *testing.T, r *model.Run) map[string]any {
	m := asMap(t, r, "Command", "CommandRange", "NetworkRange", "Mounts")
	switch c := r.Command.(type) {
	case *model.Sh:
		m["Sh"] = c.Script
	case *model.Exec:
		m["Exec"], m["IsExec"] = c.Argv, true
	case *model.Script:
		m["Script"], m["ScriptName"] = c.Text, c.Name
	}
	var mounts []any
	for _, mt := range r.Mounts {
		mm := asMap(t, mt, "From", "FromRange", "TypeRange", "DeclRange")
		for k, v := range legacyBase(mt.From, "", "FromRef", "FromStage") {
			mm[k] = v
		}
		mounts = append(mounts, mm)
	}
	if mounts != nil {
		m["Mounts"] = mounts
	}
	return m
}

func legacyCopy(t *testing.T, c *model.Copy) map[string]any {
	m := asMap(t, c, "From", "FromRange")
	for k, v := range legacyBase(c.From, "", "FromRef", "FromStage") {
		m[k] = v
	}
	return m
}

func stageNames(stages []*model.Stage) []string {
	var names []string
	for _, s := range stages {
		names = append(names, s.Name)
	}
	return names
}

// simplify drops zero values and renders ranges as FILE:LINE.
func simplify(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if fn, ok := v["Filename"].(string); ok {
			if fn == "" {
				return nil // an unset range
			}
			start := v["Start"].(map[string]any)
			end := v["End"].(map[string]any)
			return fmt.Sprintf("%s:%v-%v", filepath.Base(fn), start["Line"], end["Line"])
		}
		out := map[string]any{}
		for k, e := range v {
			if s := simplify(e); s != nil {
				out[k] = s
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		if v == nil {
			return nil
		}
		out := make([]any, 0, len(v))
		for _, e := range v {
			out = append(out, simplify(e))
		}
		return out
	case string:
		if v == "" {
			return nil
		}
	case bool:
		if !v {
			return nil
		}
	case float64:
		if v == 0 {
			return nil
		}
	case nil:
		return nil
	}
	return v
}

func renderDiags(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		fmt.Fprintf(&b, "  %s\n", d)
	}
	return b.String()
}

// checkDiagnosticWording holds every diagnostic to the style guide: a
// short summary without a period, a detail of full sentences.
func checkDiagnosticWording(t *testing.T, d *hcl.Diagnostic) {
	t.Helper()
	if strings.HasSuffix(d.Summary, ".") || d.Summary == "" || d.Summary != strings.TrimSpace(d.Summary) {
		t.Errorf("summary %q: want a noun phrase without a period", d.Summary)
	}
	if d.Detail == "" || !strings.HasSuffix(strings.TrimSpace(d.Detail), ".") && !strings.HasSuffix(strings.TrimSpace(d.Detail), "?") {
		t.Errorf("detail of %q is not full sentences: %q", d.Summary, d.Detail)
	}
}

func firstOf(opts Options, _ []string) Options { return opts }
