package dockerfile

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/model"
)

func TestImportHeredocFiles(t *testing.T) {
	src := "FROM scratch\nARG V=1\n" +
		"COPY --chmod=0600 <<A <<'B' /d/\nv=$V \"q\" \\$V\nA\nv=$V\nB\n" +
		"COPY f <<EOF /e/\nx\nEOF\n" +
		"ADD <<EOF /t.tar\nt\nEOF\n"
	cfg, diags := importString(t, src, Options{BuildArgs: map[string]string{"V": "2"}})
	if diags.HasErrors() || len(diags) > 0 {
		t.Fatalf("diagnostics: %v", diags)
	}
	text := func(s string) *string { return &s }
	want := []model.Step{
		&model.Layer{Name: "line-3", Steps: []model.Step{
			&model.Copy{FileSpec: model.FileSpec{Dest: "/d/", Chmod: "0600"}, Content: text("v=2 \"q\" $V\n"), Name: "A", Vars: []string{"V"}},
			&model.Copy{FileSpec: model.FileSpec{Dest: "/d/", Chmod: "0600"}, Content: text("v=$V\n"), Name: "B"},
		}},
		&model.Layer{Name: "line-8", Steps: []model.Step{
			&model.Copy{FileSpec: model.FileSpec{Src: []string{"f"}, Dest: "/e/"}},
			&model.Copy{FileSpec: model.FileSpec{Dest: "/e/"}, Content: text("x\n"), Name: "EOF"},
		}},
		&model.Copy{FileSpec: model.FileSpec{Dest: "/t.tar"}, Content: text("t\n"), Name: "EOF"},
	}
	if diff := cmp.Diff(want, cfg.Stages[0].Steps, ignoreRanges); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}
