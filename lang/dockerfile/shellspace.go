package dockerfile

import "strings"

// collapseSpaces folds every run of blanks outside quotes, escapes and
// comments in a one-line shell command into one space. A line continuation
// in a Dockerfile keeps the next line's indentation
// ("apt-get update &&     apt-get install"); for sh those blanks only
// separate words, so the command runs the same, and `imgc convert` can
// then write the chain as the list a person would write. Blanks inside
// quotes, after a backslash and in a trailing comment are kept as they
// are. Commands with newlines (heredocs) are returned unchanged.
func collapseSpaces(sh string) string {
	if strings.Contains(sh, "\n") {
		return sh
	}
	var b strings.Builder
	var quote byte
	pending := false // blanks seen outside quotes, not yet written
	for i := 0; i < len(sh); i++ {
		c := sh[i]
		if quote == 0 && (c == ' ' || c == '\t') {
			pending = true
			continue
		}
		if pending {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			pending = false
		}
		switch {
		case quote == '\'':
			b.WriteByte(c)
			if c == '\'' {
				quote = 0
			}
		case quote == '"':
			b.WriteByte(c)
			if c == '\\' && i+1 < len(sh) {
				i++
				b.WriteByte(sh[i])
			} else if c == '"' {
				quote = 0
			}
		case c == '\\' && i+1 < len(sh):
			b.WriteByte(c)
			i++
			b.WriteByte(sh[i])
		case c == '\'' || c == '"':
			b.WriteByte(c)
			quote = c
		case c == '#' && (i == 0 || sh[i-1] == ' ' || sh[i-1] == '\t'):
			// A comment runs to the end: keep it as written.
			b.WriteString(sh[i:])
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
