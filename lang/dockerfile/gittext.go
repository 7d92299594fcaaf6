package dockerfile

import (
	"net/url"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/model"
)

// gitText is a git source's remote, ref and subdir as templates, for a
// conversion of a source written with ARGs
// (ADD https://host/repo.git#${REF}, ADD ${REPO}, ...?ref=${V}&keep-git-dir=1).
type gitText struct {
	Remote, Ref, Subdir text
}

// gitTexts splits the source word as written the way gitSource splits
// its value (REMOTE[?QUERY][#REF[:SUBDIR]]), outside ${...}, and expands
// each part on its own. It returns nil, and the conversion keeps g's
// constants, when a part's value is not g's (a variable's value holds a
// '#', '?', '&' or ':', the source was changed by --checksum or
// cleaning, or a query setting other than ref, tag, branch, subdir or
// commit uses a variable).
func (rd *reader) gitTexts(s *stageState, rng hcl.Range, word string, checksum text, g *model.GitSource) *gitText {
	if inner, ok := doubleQuoted(word); ok {
		// "URL#$REF": the separators mean the same inside the quotes, and
		// expansion there differs from a bare word's only by word splitting,
		// which a source path never has.
		word = inner
	}
	remote, frag, _ := cutTop(word, '#')
	ref, subdir, _ := cutTop(frag, ':')
	base, query, hasQuery := cutTop(remote, '?')
	parts := map[string]string{"remote": base, "ref": ref, "subdir": subdir}
	refPrefix := "" // refs/tags/ for tag=, refs/heads/ for branch=
	if hasQuery {
		for query != "" {
			var kv string
			kv, query, _ = cutTop(query, '&')
			k, v, _ := cutTop(kv, '=')
			switch k {
			case "tag", "branch":
				refPrefix = map[string]string{"tag": "refs/tags/", "branch": "refs/heads/"}[k]
				k = "ref"
			case "ref", "commit", "checksum":
				k = "ref"
			case "subdir":
			default:
				if strings.Contains(v, "$") {
					return nil
				}
				continue
			}
			if parts[k] != "" {
				return nil
			}
			parts[k] = v
		}
	}
	out := &gitText{}
	for _, p := range []struct {
		name string
		to   *text
	}{{"remote", &out.Remote}, {"ref", &out.Ref}, {"subdir", &out.Subdir}} {
		x, ok := rd.expand(s, rng, parts[p.name])
		if !ok || x.Lost || x.Large || len(x.Unset) > 0 {
			return nil
		}
		*p.to = textOf(x)
	}
	if refPrefix != "" && !strings.HasPrefix(out.Ref.Value, refPrefix) {
		out.Ref = text{Value: refPrefix + out.Ref.Value, Tmpl: quoteLit(refPrefix) + out.Ref.template()}
	}
	if checksum.Value != "" {
		out.Ref = checksum
	}
	if strings.HasPrefix(out.Remote.Value, "github.com/") {
		out.Remote = text{Value: "https://" + out.Remote.Value, Tmpl: quoteLit("https://") + out.Remote.template()}
	}
	if hasQuery {
		if v, err := url.QueryUnescape(out.Ref.Value); err != nil || v != out.Ref.Value {
			return nil
		}
	}
	want := g.Ref
	if g.Commit != "" {
		want = g.Commit
	}
	if out.Remote.Value != g.Remote || out.Ref.Value != want || out.Subdir.Value != g.Subdir {
		return nil
	}
	return out
}

// cutTop is strings.Cut at the first sep of a Dockerfile word that is
// outside ${...}, quotes and escapes.
func cutTop(word string, sep byte) (before, after string, found bool) {
	depth := 0
	var quote byte
	for i := 0; i < len(word); i++ {
		c := word[i]
		switch {
		case c == '\\':
			i++
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '$' && i+1 < len(word) && word[i+1] == '{':
			depth++
			i++
		case c == '}' && depth > 0:
			depth--
		case c == sep && depth == 0:
			return word[:i], word[i+1:], true
		}
	}
	return word, "", false
}

// doubleQuoted returns what is inside a word that is one double-quoted
// string with no quote or escape inside, and whether it was.
func doubleQuoted(word string) (string, bool) {
	if len(word) < 2 || word[0] != '"' || word[len(word)-1] != '"' {
		return "", false
	}
	inner := word[1 : len(word)-1]
	if strings.ContainsAny(inner, "\"\\`") {
		return "", false
	}
	return inner, true
}
