package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty/function"
)

const (
	digestA = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	digestB = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

func TestLockRoundTrip(t *testing.T) {
	dir := t.TempDir()
	pins, diags := ReadLock(dir)
	if diags.HasErrors() || len(pins) != 0 {
		t.Fatalf("ReadLock of a directory without a lock file = %v, %v; want no pins", pins, diags)
	}
	want := map[string]string{
		"docker.io/library/debian:bookworm-slim": digestA,
		"gcr.io/distroless/static:nonroot":       digestB,
	}
	if err := WriteLock(dir, want); err != nil {
		t.Fatal(err)
	}
	got, diags := ReadLock(dir)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pins (-want +got):\n%s", diff)
	}
	src, err := os.ReadFile(filepath.Join(dir, LockFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), `base "docker.io/library/debian:bookworm-slim" {`) ||
		strings.Index(string(src), "debian") > strings.Index(string(src), "distroless") {
		t.Errorf("lock file is not one sorted base block per pin:\n%s", src)
	}
	if !cmp.Equal(Format(src), src) {
		t.Errorf("lock file is not canonically formatted:\n%s", src)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("WriteLock left temporary files: %v", entries)
	}
}

func TestWriteLockRejectsBadDigest(t *testing.T) {
	dir := t.TempDir()
	if err := WriteLock(dir, map[string]string{"alpine": "latest"}); err == nil {
		t.Fatal("WriteLock accepted a pin that is not a digest")
	}
	if _, err := os.Stat(filepath.Join(dir, LockFile)); !os.IsNotExist(err) {
		t.Errorf("a refused WriteLock created the lock file: %v", err)
	}
}

func TestReadLockDiagnostics(t *testing.T) {
	dir := t.TempDir()
	src := `base "alpine" {
  digest = "sha256:short"
}
base "debian" {
  digest = "` + digestA + `"
}
base "debian" {
  digest = "` + digestB + `"
}
`
	if err := os.WriteFile(filepath.Join(dir, LockFile), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	pins, diags := ReadLock(dir)
	want := []mark{
		{File: LockFile, Line: 2, Summary: "Invalid digest"},
		{File: LockFile, Line: 7, Summary: "Duplicate lock entry"},
	}
	if diff := cmp.Diff(want, diagMarks(diags)); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"debian": digestA}, pins); diff != "" {
		t.Errorf("pins (-want +got):\n%s", diff)
	}
}

func TestFormat(t *testing.T) {
	src := []byte("image \"app\" {\nfrom=\"alpine\"\n  tags    = [ \"a\" ]\nrun {\nsh=\"true\"\n}\n}\n")
	want := "image \"app\" {\n  from = \"alpine\"\n  tags = [\"a\"]\n  run {\n    sh = \"true\"\n  }\n}\n"
	got := Format(src)
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("Format (-want +got):\n%s", diff)
	}
	if again := Format(got); !cmp.Equal(got, again) {
		t.Errorf("Format is not idempotent:\n%s", cmp.Diff(string(got), string(again)))
	}
	// Every fixture is already canonical: formatting them changes nothing.
	files, _ := filepath.Glob("testdata/*/*.image.hcl")
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(src), string(Format(src))); diff != "" {
			t.Errorf("%s is not canonical (-file +formatted):\n%s", f, diff)
		}
	}
}

func TestFormatFileRefusesSyntaxErrors(t *testing.T) {
	out, diags := FormatFile([]byte("image \"app\" {\n  from = \n"), "broken.image.hcl")
	if !diags.HasErrors() || out != nil {
		t.Fatalf("FormatFile of broken input = %q, %v; want no output and an error", out, diags)
	}
	out, diags = FormatFile([]byte("locals {\nx=1\n}\n"), "ok.image.hcl")
	if diags.HasErrors() || string(out) != "locals {\n  x = 1\n}\n" {
		t.Fatalf("FormatFile = %q, %v", out, diags)
	}
}

func TestLoadMissingPath(t *testing.T) {
	cfg, diags := Load(filepath.Join(t.TempDir(), "nope.image.hcl"), Options{})
	if cfg == nil || diagMarks(diags)[0].Summary != "Configuration not found" {
		t.Fatalf("Load of a missing path = %v, %v", cfg, diags)
	}
	cfg, diags = Load(t.TempDir(), Options{})
	if cfg == nil || len(diags) != 1 || diags[0].Summary != "No configuration files" {
		t.Fatalf("Load of an empty directory = %v, %v", cfg, diags)
	}
}

func TestLoadSyntaxErrorKeepsFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.image.hcl")
	if err := os.WriteFile(path, []byte("image \"x\" {\n  from = \n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := Load(path, Options{})
	if !diags.HasErrors() {
		t.Fatal("want a syntax error")
	}
	if cfg.Files[path] == nil {
		t.Errorf("Config.Files lacks the file with the syntax error; have %v", cfg.Files)
	}
	if cfg.Dir != dir {
		t.Errorf("Config.Dir = %q, want %q", cfg.Dir, dir)
	}
}

// Evaluation errors caused by a reference that was already reported are
// not reported twice, also when the reference sits in a string template.
func TestNoRepeatedDiagnostics(t *testing.T) {
	dir := t.TempDir()
	src := "image \"x\" {\n  from = \"alpine:${var.nope}\"\n  run {\n    sh = local.nothing\n  }\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "x.image.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, diags := Load(dir, Options{})
	want := []mark{
		{File: "x.image.hcl", Line: 2, Summary: "Reference to undeclared variable"},
		{File: "x.image.hcl", Line: 4, Summary: "Reference to undeclared local value"},
	}
	if diff := cmp.Diff(want, diagMarks(diags)); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s\n%s", diff, renderDiags(diags))
	}
}

// The functions given in Options replace the standard library.
func TestOptionsFunctions(t *testing.T) {
	dir := t.TempDir()
	src := "image \"x\" {\n  from = lower(\"ALPINE\")\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "x.image.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, diags := Load(dir, Options{}); diags.HasErrors() {
		t.Fatalf("with the default functions: %v", diags)
	}
	_, diags := Load(dir, Options{Functions: map[string]function.Function{}})
	if len(diags) != 1 || diags[0].Summary != "Call to unknown function" {
		t.Fatalf("without functions: %v", diags)
	}
}

// Details that carry information beyond the summary: suggestions, the
// whole cycle, where the first declaration was.
func TestDiagnosticDetails(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		line    int
		want    []string
	}{
		{"references.image.hcl", 6, []string{`Did you mean "var.version"?`}},
		{"references.image.hcl", 7, []string{`Did you mean "local.base"?`}},
		{"references.image.hcl", 15, []string{`Did you mean "stage.build"?`}},
		{"references.image.hcl", 17, []string{`declared as an image "app"`, "image.app"}},
		{"cycles.image.hcl", 2, []string{
			"local.a refers to local.b (at cycles.image.hcl:2)",
			"which refers to local.c (at cycles.image.hcl:3)",
			"which refers to local.a (at cycles.image.hcl:4)",
		}},
		{"cycles.image.hcl", 10, []string{
			"stage.one refers to stage.two (at cycles.image.hcl:10)",
			"which refers to image.three (at cycles.image.hcl:16)",
			"which refers to stage.one (at cycles.image.hcl:23)",
		}},
		{"duplicates.image.hcl", 5, []string{"already declared at testdata/invalid/duplicates.image.hcl:1"}},
		{"enums.image.hcl", 10, []string{`Did you mean "shared"?`}},
		{"variables.image.hcl", 9, []string{"The version must be lower-case.", "validation rule at testdata/invalid/variables.image.hcl:10"}},
	} {
		path := filepath.Join("testdata", "invalid", tc.fixture)
		_, diags := Load(path, firstOf(fixtureOptions(t, path)))
		found := false
		for _, d := range diags {
			if d.Subject == nil || d.Subject.Start.Line != tc.line {
				continue
			}
			found = true
			for _, w := range tc.want {
				if !strings.Contains(d.Detail, w) {
					t.Errorf("%s:%d: detail %q lacks %q", tc.fixture, tc.line, d.Detail, w)
				}
			}
		}
		if !found {
			t.Errorf("%s:%d: no diagnostic", tc.fixture, tc.line)
		}
	}
}

// With ValuesOptional a variable without a value is unknown, not an error
// (validate): what uses it is still checked as far as its value does not
// decide, and the rest of the configuration is loaded.
func TestValuesOptional(t *testing.T) {
	dir := t.TempDir()
	src := `variable "base" { type = string }
variable "jobs" { type = number }
image "x" {
  from = var.base
  run { sh = "make -j${var.jobs}" }
  run { sh = var.jobs + "x" }
  run { sh = "echo done" }
}
`
	if err := os.WriteFile(filepath.Join(dir, "x.image.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := Load(dir, Options{ValuesOptional: true})
	want := []mark{{File: "x.image.hcl", Line: 6, Summary: "Invalid operand"}}
	if diff := cmp.Diff(want, diagMarks(diags)); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s\n%s", diff, renderDiags(diags))
	}
	if len(cfg.Stages) != 1 || len(cfg.Stages[0].Steps) == 0 {
		t.Fatalf("the image or its known steps are missing: %+v", cfg.Stages)
	}

	_, diags = Load(dir, Options{})
	want = []mark{
		{File: "x.image.hcl", Line: 1, Summary: "Missing required variable"},
		{File: "x.image.hcl", Line: 2, Summary: "Missing required variable"},
		{File: "x.image.hcl", Line: 6, Summary: "Invalid operand"},
	}
	if diff := cmp.Diff(want, diagMarks(diags)); diff != "" {
		t.Errorf("without ValuesOptional, diagnostics (-want +got):\n%s\n%s", diff, renderDiags(diags))
	}
}

// Terraform's for_each and count on an image say what to write instead.
func TestForEachOnImageHint(t *testing.T) {
	for _, arg := range []string{"for_each = [\"a\", \"b\"]", "count = 2"} {
		src := "image \"app\" {\n  " + arg + "\n  from = \"scratch\"\n}\n"
		diags := loadSource(t, src, Options{})
		if !diags.HasErrors() || !strings.Contains(diags.Error(), "imgc has no for_each or count on blocks") ||
			!strings.Contains(diags.Error(), "an image block per value with from = module.NAME.image.X") {
			t.Errorf("%s: %v, want the hint", arg, diags)
		}
	}
}

// A sensitive value is not shown in an error: neither a validation
// message that uses it nor a --var value that does not convert.
func TestSensitiveValueNotInErrors(t *testing.T) {
	src := `variable "pw" {
  type      = string
  sensitive = true
  validation {
    condition     = length(var.pw) < 8
    error_message = "pw too long: ${var.pw}"
  }
}
variable "tok" {
  type      = number
  sensitive = true
}
image "app" {
  from = "scratch"
}
`
	diags := loadSource(t, src, Options{Vars: FlagVars(map[string]string{"pw": "hunter2-password-long", "tok": "supersecretvalue"})})
	if !diags.HasErrors() {
		t.Fatal("no error")
	}
	var all strings.Builder
	for _, d := range diags {
		all.WriteString(d.Summary + ": " + d.Detail + "\n")
	}
	for _, secret := range []string{"hunter2-password-long", "supersecretvalue"} {
		if strings.Contains(all.String(), secret) {
			t.Errorf("an error shows the sensitive %q: %v", secret, all.String())
		}
	}
	if !strings.Contains(all.String(), "uses the sensitive var.pw") {
		t.Errorf("the validation error does not say why its message is hidden: %v", diags)
	}
}

// from = "build", with a stage named build, warns that the string is an
// image (Docker reads FROM build as the stage).
func TestStringNamingAStage(t *testing.T) {
	src := `stage "build" {
  from = "scratch"
}
image "web" {
  from = "build"
}
`
	diags := loadSource(t, src, Options{})
	if diags.HasErrors() || len(diags) != 1 || diags[0].Summary != "String naming a stage" || !strings.Contains(diags[0].Detail, "write from = stage.build") {
		t.Errorf("diagnostics %v, want one warning naming stage.build", diags)
	}
}

// each.value in a dynamic block names the block's own iterator.
func TestEachInDynamicHint(t *testing.T) {
	src := "image \"app\" {\n  from = \"scratch\"\n  dynamic \"run\" {\n    for_each = [\"x\"]\n    content {\n      sh = \"echo ${each.value}\"\n    }\n  }\n}\n"
	diags := loadSource(t, src, Options{})
	if !diags.HasErrors() || !strings.Contains(diags[0].Detail, "run.value") {
		t.Errorf("%v, want the hint run.value", diags)
	}
}

// ${HOME} in a shell command says how to pass it to the shell.
func TestShellVariableHint(t *testing.T) {
	src := "image \"app\" {\n  from = \"scratch\"\n  run {\n    sh = \"echo ${HOME}\"\n  }\n}\n"
	diags := loadSource(t, src, Options{})
	if !diags.HasErrors() || !strings.Contains(diags[0].Detail, "write $${HOME}") {
		t.Errorf("%v, want the hint $${HOME}", diags)
	}
}

// content whose value failed (a file() that is missing) is that one
// error, not also "Copy without source"; content = null still is one.
func TestCopyContentErrorOnce(t *testing.T) {
	for src, want := range map[string]string{
		"locals {\n  a = file(\"missing.txt\")\n}\nimage \"x\" {\n  from = \"scratch\"\n  copy {\n    content = local.a\n    dest    = \"/a\"\n  }\n}\n": "Error in function call",
		"image \"x\" {\n  from = \"scratch\"\n  copy {\n    content = null\n    dest    = \"/a\"\n  }\n}\n":                                              "Copy without source",
	} {
		diags := loadSource(t, src, Options{})
		if len(diags) != 1 || diags[0].Summary != want {
			t.Errorf("%s: %v, want one error %q", src, diags, want)
		}
	}
}

// timestamp() says why imgc has none and what to do instead.
func TestTimestampHint(t *testing.T) {
	src := "locals {\n  t = timestamp()\n}\nimage \"app\" {\n  from = \"scratch\"\n}\n"
	diags := loadSource(t, src, Options{})
	if !diags.HasErrors() || !strings.Contains(diags[0].Detail, "imgc has no timestamp(), on purpose") {
		t.Errorf("%v, want the hint", diags)
	}
}

// Terraform's blocks and arguments, and an image's attribute read, say
// what imgc has instead.
func TestTerraformHabitsHints(t *testing.T) {
	src := "terraform {\n}\nimage \"web\" {\n  from = \"scratch\"\n  tags = [\"a:1\"]\n}\nimage \"b\" {\n  from = \"scratch\"\n  depends_on = [image.web]\n  tags = [image.web.tags[0]]\n}\n"
	diags := loadSource(t, src, Options{})
	var all strings.Builder
	for _, d := range diags {
		all.WriteString(d.Detail + "\n")
	}
	for _, want := range []string{`"terraform" is Terraform's`, `"depends_on" is Terraform's`, "its attributes cannot be read"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("no %q in:\n%s", want, all.String())
		}
	}
}

// loadSource loads src as a configuration's one file, and returns its
// diagnostics.
func loadSource(t *testing.T, src string, opts Options) hcl.Diagnostics {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.image.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, diags := Load(dir, opts)
	return diags
}

// TestGitRefAndSubdirBothReported: an add with a bad ref and a bad
// subdir gets an error at each, not one at the wrong line.
func TestGitRefAndSubdirBothReported(t *testing.T) {
	diags := loadSource(t, `image "app" {
  from = "scratch"
  add {
    git    = "https://example.com/r.git"
    ref    = "a b"
    subdir = "../.."
    dest   = "/src/"
  }
}
`, Options{})
	var got []string
	for _, d := range diags {
		got = append(got, fmt.Sprintf("%s at %d", d.Summary, d.Subject.Start.Line))
	}
	want := []string{"Invalid git ref at 5", "Invalid git subdirectory at 6"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
}
