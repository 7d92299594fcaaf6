package dockerfile

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/model"
)

func TestGitQuery(t *testing.T) {
	c1, c2 := strings.Repeat("a", 40), strings.Repeat("b", 40)
	tests := []struct {
		frag, query, checksum string
		want                  model.GitSource
		err                   string
	}{
		{query: "submodules", want: model.GitSource{}},
		{query: "submodules=false", want: model.GitSource{SkipSubmodules: true}},
		{query: "submodules=0&keep-git-dir", want: model.GitSource{SkipSubmodules: true, KeepGitDir: true}},
		{query: "submodules=maybe", err: `submodules="maybe" is not a boolean`},
		{query: "mtime=commit", want: model.GitSource{}},
		{query: "mtime=checkout&branch=dev", want: model.GitSource{Ref: "refs/heads/dev"}},
		{query: "mtime=", err: `query "mtime" has no value`},
		{query: "mtime=now", err: `mtime="now" is neither`},
		{query: "commit=" + c1, want: model.GitSource{Ref: c1}},
		// A ref and a commit: the build checks that the ref names it.
		{frag: "main", query: "commit=" + c1, want: model.GitSource{Ref: "main", Commit: c1}},
		// fetch-by-commit trusts the commit, whatever order the keys come in.
		{frag: "main", query: "commit=" + c1 + "&fetch-by-commit", want: model.GitSource{Ref: c1}},
		{query: "ref=main&fetch-by-commit=true", checksum: c1, want: model.GitSource{Ref: c1}},
		{query: "fetch-by-commit=1", want: model.GitSource{}},
		{query: "commit=" + c1, checksum: c2, err: "conflict"},
		{query: "depth=1", err: `the git query "depth" is not one BuildKit v0.34.2 has`},
	}
	for _, tc := range tests {
		g := model.GitSource{Ref: tc.frag}
		err := gitQuery(&g, tc.query, tc.checksum)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("gitQuery(%q, %q) error %v, want one with %q", tc.query, tc.checksum, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("gitQuery(%q, %q): %v", tc.query, tc.checksum, err)
			continue
		}
		if diff := cmp.Diff(tc.want, g); diff != "" {
			t.Errorf("gitQuery(%q, %q) (-want +got):\n%s", tc.query, tc.checksum, diff)
		}
	}
}
