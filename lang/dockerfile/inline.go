package dockerfile

import (
	"path"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// inlineCopies are the heredoc files of a COPY or ADD as copies of inline
// content, as BuildKit's frontend makes them: each file, named by its
// heredoc, copied to the destination with the instruction's --chown,
// --chmod and --link (ADD neither fetches nor unpacks one). A heredoc
// whose delimiter is not quoted expands the variables in its text,
// which the conversion keeps as a template of the ARGs.
func (rd *reader) inlineCopies(s *stageState, rng hcl.Range, f copyWords, files []instructions.SourceContent, link bool) ([]stepForm, bool) {
	var out []stepForm
	for _, sc := range files {
		content, vars := lit(sc.Data), f.Vars
		if sc.Expand {
			x, ok := rd.expandContent(s, rng, sc.Path, sc.Data)
			if !ok {
				return nil, false
			}
			content = textOf(x)
			vars = uniqueSorted(append(append([]string(nil), f.Vars...), s.argVars(x.Matched)...))
		}
		out = append(out, &copyForm{
			fileForm: fileForm{Dest: f.Dest, Chown: f.Chown, Chmod: f.Chmod, Link: link},
			Content:  &content, Name: sc.Path, Vars: vars, Range: rng,
		})
	}
	return out, true
}

// expandContent expands a heredoc file's text as BuildKit does: with a
// lexer of its own (escape character \, quotes kept as text) against the
// stage's environment.
func (rd *reader) expandContent(s *stageState, rng hcl.Range, name, data string) (expansion, bool) {
	lex := shell.NewLex('\\')
	lex.SkipProcessQuotes = true
	x, err := rd.expandWith(lex, '\\', data, s.expandEnv(), false)
	if err != nil {
		rd.errorf(rng, "Invalid variable reference", "%s Fix the ${...} expression in the heredoc <<%s, or quote its delimiter (<<'%s') to keep its text as written.", sentence(err.Error()), name, name)
		return expansion{}, false
	}
	rd.useArgs(x.Matched)
	if x.Large || x.Lost {
		rd.convertWarnf(rng, "Variable reference not kept", "The heredoc <<%s expands %s in a way HCL cannot say (or into a template of more than %d bytes), so its converted content is the expanded text, and --var no longer changes it. Edit the converted file to compute it if you need to.", name, strings.Join(x.Matched, ", "), maxTemplate)
		x.Tmpl = ""
	}
	return x, true
}

// inlineFile writes a copy of inline content: its text (an HCL heredoc
// when it is lines of literal text), the file's name unless it is the
// destination's last element, and the file settings.
func (w *writer) inlineFile(b *hclwrite.Body, c *copyForm, depth int) {
	t := *c.Content
	if t.Tmpl == "" && strings.Contains(t.Value, "\n") && strings.HasSuffix(t.Value, "\n") {
		b.SetAttributeRaw("content", raw(heredoc(t.Value, depth+1)))
	} else {
		b.SetAttributeRaw("content", raw(w.text(t)))
	}
	if c.Dest.Tmpl != "" || c.Name != path.Base(c.Dest.Value) || strings.HasSuffix(c.Dest.Value, "/") {
		b.SetAttributeRaw("name", raw(quoted(quoteLit(c.Name))))
	}
	b.SetAttributeRaw("dest", raw(w.text(c.Dest)))
	w.fileAttrs(b, c.fileForm)
}
