package dockerfile

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/model"
)

func importString(t *testing.T, src string, opts Options) (*model.Config, hcl.Diagnostics) {
	t.Helper()
	if opts.Platform == "" {
		opts.Platform = testPlatform
	}
	return Import("Dockerfile", []byte(src), opts)
}

var ignoreRanges = cmp.Options{cmpopts.IgnoreTypes(hcl.Range{}), cmpopts.IgnoreFields(model.ImageConfig{}, "Instructions"), cmpopts.EquateEmpty()}

func TestImportRemoteSources(t *testing.T) {
	src := "FROM alpine\n" +
		"ADD https://example.com/x /x\n" +
		"ADD --keep-git-dir=true https://host/repo.git#v1:sub/dir /src\n" +
		"ADD git@host:org/repo.git /r/\n" +
		"ADD github.com/moby/buildkit#main /bk\n" +
		"ADD https://host/q.git?tag=v2&subdir=d&keep-git-dir=1 /q\n"
	cfg, diags := importString(t, src, Options{})
	if diags.HasErrors() || len(diags) > 0 {
		t.Fatalf("diagnostics: %v", diags)
	}
	want := []model.Step{
		&model.Add{FileSpec: model.FileSpec{Dest: "/x"}, URL: "https://example.com/x"},
		&model.Add{FileSpec: model.FileSpec{Dest: "/src"}, Git: &model.GitSource{Remote: "https://host/repo.git", Ref: "v1", Subdir: "sub/dir", KeepGitDir: true}},
		&model.Add{FileSpec: model.FileSpec{Dest: "/r/"}, Git: &model.GitSource{Remote: "git@host:org/repo.git"}},
		&model.Add{FileSpec: model.FileSpec{Dest: "/bk"}, Git: &model.GitSource{Remote: "https://github.com/moby/buildkit", Ref: "main"}},
		&model.Add{FileSpec: model.FileSpec{Dest: "/q"}, Git: &model.GitSource{Remote: "https://host/q.git", Ref: "refs/tags/v2", Subdir: "d", KeepGitDir: true}},
	}
	if diff := cmp.Diff(want, cfg.Stages[0].Steps, ignoreRanges); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}

func TestImportSemantics(t *testing.T) {
	tests := []struct {
		name string
		src  string
		opts Options
		want []*model.Stage
	}{
		{
			name: "build args override global and stage defaults; ARGs reach RUN as env",
			src:  "ARG BASE=alpine\nARG V=1\nFROM $BASE\nARG V\nARG W=w-$V\nRUN echo $V $W\n",
			opts: Options{BuildArgs: map[string]string{"BASE": "debian", "W": "override"}},
			want: []*model.Stage{{
				Kind: model.KindImage, Name: "stage-0", From: model.From{Base: &model.Image{Ref: imageref.MustParse("debian")}},
				Steps: []model.Step{&model.Run{
					Command: &model.Sh{Script: "echo $V $W"},
					Env:     []model.EnvVar{{Name: "V", Value: "1"}, {Name: "W", Value: "override"}},
					Vars:    []string{"V", "W"},
				}},
			}},
		},
		{
			name: "ENV expands ARG and ENV; RUN and CMD stay as written; base env kept for the compiler",
			src:  "FROM alpine\nARG DIR=/opt\nENV HOME=$DIR/home PATH=$DIR/bin:$PATH\nRUN echo $HOME\nCMD echo $HOME\n",
			want: []*model.Stage{{
				Kind: model.KindImage, Name: "stage-0", From: model.From{Base: &model.Image{Ref: imageref.MustParse("alpine")}},
				Env: []model.EnvVar{{Name: "HOME", Value: "/opt/home"}, {Name: "PATH", Value: "/opt/bin:$PATH"}},
				Steps: []model.Step{&model.Run{
					Command: &model.Sh{Script: "echo $HOME"},
					Env:     []model.EnvVar{{Name: "DIR", Value: "/opt"}},
					Vars:    []string{"DIR"},
				}},
				Config: &model.ImageConfig{Cmd: []string{"/bin/sh", "-c", "echo $HOME"}, CmdSet: true},
			}},
		},
		{
			name: "target picks the image; FROM stage inherits workdir and env",
			src:  "FROM alpine AS base\nENV A=1\nWORKDIR /w\nFROM base AS dev\nCOPY x y\nRUN echo\nFROM base\nRUN echo prod\n",
			opts: Options{Target: "DEV"},
			want: []*model.Stage{
				{Kind: model.KindStage, Name: "base", From: model.From{Base: &model.Image{Ref: imageref.MustParse("alpine")}}, Env: []model.EnvVar{{Name: "A", Value: "1"}}, Workdir: "/w",
					// BuildKit makes a WORKDIR no step uses.
					Steps: []model.Step{&model.Mkdir{Path: "/w"}}},
				{Kind: model.KindImage, Name: "dev", From: model.From{Base: &model.Target{Name: "base"}}, Steps: []model.Step{
					&model.Copy{FileSpec: model.FileSpec{Src: []string{"x"}, Dest: "/w/y"}},
					&model.Run{Command: &model.Sh{Script: "echo"}},
				}},
				{Kind: model.KindStage, Name: "stage-2", From: model.From{Base: &model.Target{Name: "base"}}, Steps: []model.Step{&model.Run{Command: &model.Sh{Script: "echo prod"}}}},
			},
		},
		{
			name: "a heredoc with #! is a script, one without runs in the shell",
			src:  "FROM scratch\nRUN <<PY\n#!/usr/bin/env python3\nprint(1)\nPY\nRUN <<EOF\necho\nEOF\n",
			want: []*model.Stage{{
				Kind: model.KindImage, Name: "stage-0", From: model.From{Base: &model.Scratch{}},
				Steps: []model.Step{
					&model.Run{Command: &model.Script{Name: "PY", Text: "#!/usr/bin/env python3\nprint(1)\n"}},
					&model.Run{Command: &model.Sh{Script: "echo\n"}},
				},
			}},
		},
		{
			name: "relative WORKDIR joins the previous one; scratch knows /",
			src:  "FROM scratch\nWORKDIR a\nWORKDIR b/../c\nCOPY f .\n",
			want: []*model.Stage{{
				Kind: model.KindImage, Name: "stage-0", From: model.From{Base: &model.Scratch{}}, Workdir: "/a/c",
				// WORKDIR a makes /a; the COPY makes /a/c as WORKDIR b/../c would.
				Steps: []model.Step{&model.Mkdir{Path: "/a"}, &model.Copy{FileSpec: model.FileSpec{Src: []string{"f"}, Dest: "/a/c/"}}},
			}},
		},
		{
			name: "ADD: URLs download, local files extract, several URLs share one layer",
			src:  "FROM alpine\nADD https://a.example/x.tgz https://b.example/y local.tgz /d/\n",
			want: []*model.Stage{{
				Kind: model.KindImage, Name: "stage-0", From: model.From{Base: &model.Image{Ref: imageref.MustParse("alpine")}},
				Steps: []model.Step{&model.Layer{Name: "line-2", Steps: []model.Step{
					&model.Add{FileSpec: model.FileSpec{Dest: "/d/"}, URL: "https://a.example/x.tgz"},
					&model.Add{FileSpec: model.FileSpec{Dest: "/d/"}, URL: "https://b.example/y"},
					&model.Add{FileSpec: model.FileSpec{Src: []string{"local.tgz"}, Dest: "/d/"}, Extract: true},
				}}},
			}},
		},
		{
			name: "escape directive changes the lexer's escape",
			src:  "# escape=`\nFROM alpine\nENV A=x`$y B=\"q\\z\"\n",
			want: []*model.Stage{{
				Kind: model.KindImage, Name: "stage-0", From: model.From{Base: &model.Image{Ref: imageref.MustParse("alpine")}},
				Env: []model.EnvVar{{Name: "A", Value: "x$$y"} /* a literal $ is $$ in the model: the runtime expands $NAME */, {Name: "B", Value: `q\z`}},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags := importString(t, tt.src, tt.opts)
			for _, d := range diags {
				if d.Severity == hcl.DiagError {
					t.Fatalf("Import: %s", diags.Error())
				}
			}
			if diff := cmp.Diff(tt.want, cfg.Stages, ignoreRanges); diff != "" {
				t.Errorf("stages (-want +got):\n%s", diff)
			}
		})
	}
}

func TestImportDiagnostics(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		opts     Options
		severity hcl.DiagnosticSeverity
		summary  string
		line     int
	}{
		{"uid above 32 bits", "FROM alpine\nUSER 1099511627776\n", Options{}, hcl.DiagError, "Invalid user", 2},
		{"gid above 32 bits", "FROM alpine\nUSER app:4294967296\n", Options{}, hcl.DiagError, "Invalid user", 2},
		{"chown above 32 bits", "FROM alpine\nCOPY --chown=1099511627776 a /a\n", Options{}, hcl.DiagError, "Invalid --chown", 2},
		{"git source with checksum", "FROM alpine\nADD --checksum=sha256:00 https://github.com/moby/buildkit.git#v0.1 /src\n", Options{}, hcl.DiagError, "Checksum of a git source", 2},
		{"git source with a bad ref", "FROM alpine\nADD git@github.com:moby/buildkit.git#--upload-pack=x /src\n", Options{}, hcl.DiagError, "Invalid git source", 2},
		{"git query unknown", "FROM alpine\nADD https://h/r.git?depth=1 /src\n", Options{}, hcl.DiagError, "Invalid git source", 2},
		{"git query bad mtime", "FROM alpine\nADD https://h/r.git?mtime=now /src\n", Options{}, hcl.DiagError, "Invalid git source", 2},
		{"keep-git-dir without git", "FROM alpine\nADD --keep-git-dir a /src\n", Options{}, hcl.DiagWarning, "Ignored --keep-git-dir", 2},
		{"unknown instruction", "FROM alpine\nRUNN echo\n", Options{}, hcl.DiagError, "Unknown instruction", 2},
		{"bad stop signal", "FROM alpine\nSTOPSIGNAL SIGFOO\n", Options{}, hcl.DiagError, "Invalid stop signal", 2},
		{"port zero", "FROM alpine\nEXPOSE 0\n", Options{}, hcl.DiagError, "Invalid port", 2},
		{"port protocol", "FROM alpine\nEXPOSE 80/tpc\n", Options{}, hcl.DiagError, "Invalid port", 2},
		{"parse error", "FROM alpine\nENV PATH\n", Options{}, hcl.DiagError, "Invalid Dockerfile", 2},
		{"invalid instruction", "FROM alpine\nCOPY onlyone\n", Options{}, hcl.DiagError, "Invalid instruction", 2},
		{"instruction before FROM", "RUN echo\nFROM alpine\n", Options{}, hcl.DiagError, "Instruction before FROM", 1},
		{"no stage", "# just a comment\nARG X=1\n", Options{}, hcl.DiagError, "No stage", 1},
		{"empty file", "", Options{}, hcl.DiagError, "Invalid Dockerfile", 1},
		{"ssh mount with source", "FROM alpine\nRUN --mount=type=ssh,source=x git clone x\n", Options{}, hcl.DiagError, "Source on an SSH mount", 2},
		{"windows base", "FROM mcr.microsoft.com/windows/servercore:ltsc2022\n", Options{}, hcl.DiagError, "Windows image", 1},
		{"duplicate stage", "FROM alpine AS a\nFROM alpine AS a\n", Options{}, hcl.DiagError, "Duplicate stage name", 2},
		{"unknown target", "FROM alpine AS a\n", Options{Target: "b"}, hcl.DiagError, "Unknown target", 1},
		{"empty base", "ARG IMG\nFROM $IMG\n", Options{}, hcl.DiagError, "Empty base image", 2},
		{"invalid base", "FROM Not:A:Ref\n", Options{}, hcl.DiagError, "Invalid image reference", 1},
		{"unused build arg", "FROM alpine\n", Options{BuildArgs: map[string]string{"NOPE": "1"}}, hcl.DiagWarning, "Unused build arguments", 0},
		{"from variable", "FROM alpine\nARG S=x\nCOPY --from=$S /a /b\n", Options{}, hcl.DiagError, "Variable in --from", 3},
		{"bad stage index", "FROM alpine\nCOPY --from=3 /a /b\n", Options{}, hcl.DiagError, "Invalid stage index", 2},
		{"checksum with several sources", "FROM alpine\nADD --checksum=sha256:00 https://a/x https://b/y /d/\n", Options{}, hcl.DiagError, "Checksum with several sources", 2},
		{"checksum of a local file", "FROM alpine\nADD --checksum=sha256:00 f /f\n", Options{}, hcl.DiagError, "Checksum of a local file", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := importString(t, tt.src, tt.opts)
			var found *hcl.Diagnostic
			for _, d := range diags {
				if d.Summary == tt.summary {
					found = d
				}
			}
			if found == nil {
				t.Fatalf("no %q diagnostic; got:\n%s", tt.summary, diagLines(diags))
			}
			if found.Severity != tt.severity {
				t.Errorf("severity %v, want %v", found.Severity, tt.severity)
			}
			line := 0
			if found.Subject != nil {
				line = found.Subject.Start.Line
				if found.Subject.Filename != "Dockerfile" {
					t.Errorf("subject file %q, want Dockerfile", found.Subject.Filename)
				}
			}
			if line != tt.line {
				t.Errorf("line %d, want %d", line, tt.line)
			}
			if strings.HasSuffix(found.Summary, ".") || !strings.HasSuffix(found.Detail, ".") {
				t.Errorf("summary %q / detail %q: summary without period, detail as sentences", found.Summary, found.Detail)
			}
		})
	}
}

// TestUnknownInstructionSuggests checks the did-you-mean of a misspelled
// instruction, at its line, and the list when nothing is close.
func TestUnknownInstructionSuggests(t *testing.T) {
	tests := []struct {
		src, want string
		line      int
	}{
		{"FROM alpine\nCOPPY a /a\n", `Unknown instruction "COPPY". Did you mean "COPY"? Fix its spelling.`, 2},
		{"FROM alpine\nworkdri /src\n", `Unknown instruction "workdri". Did you mean "WORKDIR"? Fix its spelling.`, 2},
		{"FROM alpine\n\nXYZZY a\n", `Unknown instruction "XYZZY". Use one of the Dockerfile instructions (FROM, RUN, COPY, ADD, ENV, ARG, ...), or fix its spelling.`, 3},
	}
	for _, tt := range tests {
		_, diags := importString(t, tt.src, Options{})
		var got []string
		for _, d := range diags {
			if d.Summary == "Unknown instruction" && d.Subject != nil && d.Subject.Start.Line == tt.line {
				got = append(got, d.Detail)
			}
		}
		if diff := cmp.Diff([]string{tt.want}, got); diff != "" {
			t.Errorf("%q: details at line %d (-want +got):\n%s\nall: %s", tt.src, tt.line, diff, diagLines(diags))
		}
	}
}

// TestImportRanges checks that an instruction's range covers its whole
// line span, so snippets show the instruction.
func TestImportRanges(t *testing.T) {
	src := "FROM alpine\n\nRUN echo a \\\n    && echo b\nCOPY x /y\n"
	cfg, diags := importString(t, src, Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	st := cfg.Stages[0]
	got := []string{
		src[st.DeclRange.Start.Byte:st.DeclRange.End.Byte],
		src[st.Steps[0].StepRange().Start.Byte:st.Steps[0].StepRange().End.Byte],
		src[st.Steps[1].StepRange().Start.Byte:st.Steps[1].StepRange().End.Byte],
		src[st.Range.Start.Byte:st.Range.End.Byte],
	}
	want := []string{"FROM alpine", "RUN echo a \\\n    && echo b", "COPY x /y", strings.TrimSuffix(src, "\n")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("range text (-want +got):\n%s", diff)
	}
	if f := cfg.Files["Dockerfile"]; f == nil || string(f.Bytes) != src {
		t.Errorf("Files[Dockerfile] does not hold the source")
	}
	if r := st.Steps[0].StepRange(); r.Start.Line != 3 || r.End.Line != 4 || r.Start.Column != 1 {
		t.Errorf("RUN range %v, want lines 3-4 from column 1", r)
	}
}

// TestAmbientArgsAreNotReported: an unused build argument from the command
// line is reported; the same name from the environment (Ambient) is not.
func TestAmbientArgsAreNotReported(t *testing.T) {
	src := []byte("FROM alpine\nRUN true\n")
	args := map[string]string{"UNUSED": "1"}
	_, diags := Import("Dockerfile", src, Options{BuildArgs: args})
	if len(diags) != 1 || diags[0].Summary != "Unused build arguments" {
		t.Errorf("from the command line: diagnostics %v, want one unused-argument warning", diags)
	}
	_, diags = Import("Dockerfile", src, Options{BuildArgs: args, Ambient: map[string]bool{"UNUSED": true}})
	if len(diags) != 0 {
		t.Errorf("from the environment: diagnostics %v, want none", diags)
	}
}
