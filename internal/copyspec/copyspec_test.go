package copyspec

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/patternmatcher"
)

// tree builds a directory from "path" (file), "path/" (directory) and
// "path -> target" (symlink) lines.
func tree(t testing.TB, lines ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, l := range lines {
		p := filepath.Join(root, filepath.FromSlash(strings.TrimSuffix(l, "/")))
		switch {
		case strings.Contains(l, " -> "):
			name, target, _ := strings.Cut(l, " -> ")
			p = filepath.Join(root, filepath.FromSlash(name))
			mustMkdir(t, filepath.Dir(p))
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
		case strings.HasSuffix(l, "/"):
			mustMkdir(t, p)
		default:
			mustMkdir(t, filepath.Dir(p))
			if err := os.WriteFile(p, []byte(l), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func mustMkdir(t testing.TB, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

// pairs renders results as "src>dst" with a type suffix: "/" for
// directories, "@target" for symlinks.
func pairs(t *testing.T, root string, sources []string, dest string, opts Options) ([]string, error) {
	t.Helper()
	files, err := Resolve(root, sources, dest, opts)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		s := f.Src + ">" + f.Dst
		switch {
		case f.Mode.IsDir():
			s += "/"
		case f.Mode&fs.ModeSymlink != 0:
			s += "@" + f.LinkTarget
		}
		out = append(out, s)
	}
	return out, nil
}

func TestResolve(t *testing.T) {
	root := tree(t,
		"go.mod", "go.sum", "main.go", "main_test.go", "README.md",
		"src/app.py", "src/lib/util.py", "src/lib/util_test.py", "src/empty/",
		"docs/a.md", "docs/b.txt",
		"link -> src/app.py", "src/lib/rel -> ../app.py", "abs -> /src/lib", "escape -> ../../../etc",
	)
	ignoreAll := func(p ...string) *patternmatcher.PatternMatcher {
		pm, err := patternmatcher.New(p)
		if err != nil {
			t.Fatal(err)
		}
		return pm
	}
	tests := []struct {
		name    string
		sources []string
		dest    string
		opts    Options
		want    []string
		wantErr string
	}{
		{name: "file to file", sources: []string{"go.mod"}, dest: "/src/mod", want: []string{"go.mod>/src/mod"}},
		{name: "file to dir", sources: []string{"go.mod"}, dest: "/src/", want: []string{"go.mod>/src/go.mod"}},
		{name: "several files", sources: []string{"go.mod", "go.sum"}, dest: "/src/", want: []string{"go.mod>/src/go.mod", "go.sum>/src/go.sum"}},
		{name: "several files need a dir", sources: []string{"go.mod", "go.sum"}, dest: "/src", wantErr: "destination directory"},
		{name: "dir copies its contents", sources: []string{"src/lib"}, dest: "/app", want: []string{
			"src/lib>/app/", "src/lib/rel>/app/rel@../app.py", "src/lib/util.py>/app/util.py", "src/lib/util_test.py>/app/util_test.py"}},
		{name: "dir keeps empty dirs", sources: []string{"src/"}, dest: "/app/", want: []string{
			"src>/app/", "src/app.py>/app/app.py", "src/empty>/app/empty/", "src/lib>/app/lib/",
			"src/lib/rel>/app/lib/rel@../app.py", "src/lib/util.py>/app/lib/util.py", "src/lib/util_test.py>/app/lib/util_test.py"}},
		{name: "star glob", sources: []string{"*.go"}, dest: "/src/", want: []string{"main.go>/src/main.go", "main_test.go>/src/main_test.go"}},
		{name: "glob with several matches needs a dir", sources: []string{"*.go"}, dest: "/src", wantErr: "destination directory"},
		{name: "glob with one match to a file", sources: []string{"go.s?m"}, dest: "/sum", want: []string{"go.sum>/sum"}},
		{name: "double star flattens", sources: []string{"src/**/*.py"}, dest: "/py/", want: []string{
			"src/app.py>/py/app.py", "src/lib/util.py>/py/util.py", "src/lib/util_test.py>/py/util_test.py"}},
		{name: "double star with parents", sources: []string{"src/**/*.py"}, dest: "/py/", opts: Options{Parents: true}, want: []string{
			"src>/py/src/", "src/app.py>/py/src/app.py", "src/lib>/py/src/lib/", "src/lib/util.py>/py/src/lib/util.py", "src/lib/util_test.py>/py/src/lib/util_test.py"}},
		{name: "parents pivot", sources: []string{"src/./lib/util.py"}, dest: "/py/", opts: Options{Parents: true}, want: []string{
			"src/lib>/py/lib/", "src/lib/util.py>/py/lib/util.py"}},
		{name: "char class", sources: []string{"docs/[a-b].md"}, dest: "/d/", want: []string{"docs/a.md>/d/a.md"}},
		{name: "exclude relative to the source", sources: []string{"src"}, dest: "/app/", opts: Options{Exclude: []string{"**/*_test.py", "lib/rel"}}, want: []string{
			"src>/app/", "src/app.py>/app/app.py", "src/empty>/app/empty/", "src/lib>/app/lib/", "src/lib/util.py>/app/lib/util.py"}},
		// As BuildKit v0.34: not relative to the root, without ** only the
		// top level below the source, and never the source itself.
		{name: "exclude is not root relative", sources: []string{"src", "docs"}, dest: "/app/", opts: Options{Exclude: []string{"src/lib", "util.py", "*.md"}}, want: []string{
			"src>/app/", "src/app.py>/app/app.py", "src/empty>/app/empty/", "src/lib>/app/lib/",
			"src/lib/rel>/app/lib/rel@../app.py", "src/lib/util.py>/app/lib/util.py", "src/lib/util_test.py>/app/lib/util_test.py",
			"docs>/app/", "docs/b.txt>/app/b.txt"}},
		{name: "exclude never a source a glob matched", sources: []string{"*.go"}, dest: "/src/", opts: Options{Exclude: []string{"main_test.go"}}, want: []string{
			"main.go>/src/main.go", "main_test.go>/src/main_test.go"}},
		{name: "exclude with parents is root relative", sources: []string{"src/lib"}, dest: "/p/", opts: Options{Parents: true, Exclude: []string{"src/lib/*_test.py", "lib/rel"}}, want: []string{
			"src>/p/src/", "src/lib>/p/src/lib/", "src/lib/rel>/p/src/lib/rel@../app.py", "src/lib/util.py>/p/src/lib/util.py"}},
		{name: "exclude with a pivot is pivot relative", sources: []string{"src/./lib"}, dest: "/p/", opts: Options{Parents: true, Exclude: []string{"lib/rel", "lib/util.py"}}, want: []string{
			"src/lib>/p/lib/", "src/lib/util_test.py>/p/lib/util_test.py"}},
		{name: "ignore file", sources: []string{"."}, dest: "/app/", opts: Options{Ignore: ignoreAll("src", "docs", "*.md", "*link*", "abs", "escape", "go.*")}, want: []string{
			".>/app/", "main.go>/app/main.go", "main_test.go>/app/main_test.go"}},
		{name: "ignore with exception", sources: []string{"docs"}, dest: "/d/", opts: Options{Ignore: ignoreAll("docs", "!docs/b.txt")}, wantErr: `"docs" matched only ignored`},
		{name: "ignore exception reincludes inside a walked dir", sources: []string{"."}, dest: "/d/", opts: Options{Ignore: ignoreAll("*", "!docs", "docs/*", "!docs/b.txt")}, want: []string{
			".>/d/", "docs>/d/docs/", "docs/b.txt>/d/docs/b.txt"}},
		{name: "source symlink is followed", sources: []string{"link"}, dest: "/x/", want: []string{"src/app.py>/x/link"}},
		{name: "absolute symlink stays in root", sources: []string{"abs/util.py"}, dest: "/u", want: []string{"src/lib/util.py>/u"}},
		{name: "escaping symlink stays in root", sources: []string{"escape"}, dest: "/e", wantErr: `"escape" matched no files`},
		{name: "leading slash is root relative", sources: []string{"/go.mod"}, dest: "/m", want: []string{"go.mod>/m"}},
		{name: "missing source", sources: []string{"nope.txt"}, dest: "/x", wantErr: `"nope.txt" matched no files`},
		{name: "glob matching nothing", sources: []string{"*.rs"}, dest: "/x/", wantErr: `"*.rs" matched no files`},
		{name: "outside the root", sources: []string{"../secret"}, dest: "/x", wantErr: "outside the root"},
		{name: "ignored source", sources: []string{"README.md"}, dest: "/x", opts: Options{Ignore: ignoreAll("*.md")}, wantErr: "matched only ignored"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pairs(t, root, tt.sources, tt.dest, tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolve(%q, %q) mismatch (-want +got):\n%s", tt.sources, tt.dest, diff)
			}
		})
	}
}

func TestResolveNoMatchErrorType(t *testing.T) {
	_, err := Resolve(t.TempDir(), []string{"a/*.txt"}, "/x/", Options{})
	var nm *NoMatchError
	if !errors.As(err, &nm) || nm.Pattern != "a/*.txt" {
		t.Fatalf("error = %#v, want a *NoMatchError for a/*.txt", err)
	}
}

func TestResolveModeAndSize(t *testing.T) {
	root := tree(t, "bin/tool")
	if err := os.Chmod(filepath.Join(root, "bin/tool"), 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := Resolve(root, []string{"bin/tool"}, "/usr/bin/", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Mode != 0o755 || files[0].Size != int64(len("bin/tool")) || files[0].Digest != "" {
		t.Fatalf("got %+v, want one 0755 regular file of size %d without digest", files, len("bin/tool"))
	}
}
