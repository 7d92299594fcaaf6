package dockerfile

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/model"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// testPlatform pins the platform ARGs so goldens do not depend on the host.
const testPlatform = "linux/amd64"

// TestGolden converts every testdata/<case>/Dockerfile, compares the HCL
// and the diagnostics with the goldens, and checks that loading the HCL
// gives the model Import gives for the Dockerfile.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no testdata cases")
	}
	for _, df := range dirs {
		dir := filepath.Dir(df)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			src, err := os.ReadFile(df)
			if err != nil {
				t.Fatal(err)
			}
			out, diags := Convert(df, src, ConvertOptions{Platform: testPlatform})
			if diags.HasErrors() {
				t.Fatalf("Convert: %s", diags.Error())
			}
			checkGolden(t, filepath.Join(dir, "want.image.hcl"), out)
			checkGolden(t, filepath.Join(dir, "diags.golden"), []byte(diagLines(diags)))

			imported, diags := Import(df, src, Options{Platform: testPlatform})
			if diags.HasErrors() {
				t.Fatalf("Import: %s", diags.Error())
			}
			loaded, diags := lang.Load(filepath.Join(dir, "want.image.hcl"), lang.Options{})
			if diags.HasErrors() {
				t.Fatalf("lang.Load of the converted file: %s", diags.Error())
			}
			compareModels(t, imported, loaded)
		})
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// diagLines renders diagnostics one a line: "LINE: severity: summary".
func diagLines(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		line := 0
		if d.Subject != nil {
			line = d.Subject.Start.Line
		}
		fmt.Fprintf(&b, "%d: %s: %s\n", line, sev, d.Summary)
	}
	return b.String()
}

// compareModels checks that two models agree on everything that builds an
// image: ranges, variable attribution and file caches aside, and with the
// converted file's stage names.
func compareModels(t *testing.T, imported, loaded *model.Config) {
	t.Helper()
	if len(imported.Stages) != len(loaded.Stages) {
		t.Fatalf("Import has %d stages, the converted file %d", len(imported.Stages), len(loaded.Stages))
	}
	names := map[string]string{}
	for i, st := range imported.Stages {
		names[st.Name] = loaded.Stages[i].Name
	}
	for _, st := range imported.Stages {
		renameStage(st, names)
	}
	opts := cmp.Options{
		cmpopts.IgnoreTypes(hcl.Range{}),
		cmpopts.IgnoreFields(model.Config{}, "Dir", "Files", "Vars"),
		cmpopts.IgnoreFields(model.Run{}, "Vars"),
		cmpopts.IgnoreFields(model.Copy{}, "Vars"),
		cmpopts.IgnoreFields(model.Add{}, "Vars"),
		cmpopts.IgnoreFields(model.ImageConfig{}, "Instructions"),
		cmpopts.EquateEmpty(),
	}
	if diff := cmp.Diff(imported, loaded, opts); diff != "" {
		t.Errorf("Import and lang.Load of the conversion differ (-import +load):\n%s", diff)
	}
}

func renameStage(st *model.Stage, names map[string]string) {
	rename := func(s *string) {
		if n, ok := names[*s]; ok {
			*s = n
		}
	}
	renameBase := func(b model.Base) {
		if t, ok := b.(*model.Target); ok {
			rename(&t.Name)
		}
	}
	rename(&st.Name)
	renameBase(st.From.Base)
	var steps func([]model.Step)
	steps = func(list []model.Step) {
		for _, step := range list {
			switch s := step.(type) {
			case *model.Copy:
				renameBase(s.From)
			case *model.Run:
				for i := range s.Mounts {
					renameBase(s.Mounts[i].From)
				}
			case *model.Layer:
				steps(s.Steps)
			}
		}
	}
	steps(st.Steps)
}

// corpusDir is the shared conformance corpus, beside the repository.
func corpusDir(t testing.TB) string {
	dir := filepath.Join("..", "..", "..", "shared", "corpus")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("corpus not found at %s: %v", dir, err)
	}
	return dir
}
