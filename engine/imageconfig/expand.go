package imageconfig

import (
	"path"
	"strings"
)

// ExpandEnv returns over with $NAME and ${NAME} references in its values
// replaced from base, the base image's environment: only the runtime knows
// it, so a Dockerfile's `ENV PATH=/opt/bin:$PATH` reaches the IR as written.
// A name base does not set is empty, as in Docker. ${NAME:-word},
// ${NAME-word}, ${NAME:+word} and ${NAME+word} work as in the shell; any
// other ${...} form, and a $ not followed by a name, stays as written; $$
// is a literal $ (the Dockerfile importer writes \$NAME and '$NAME' so).
func ExpandEnv(base, over []string) []string {
	if len(over) == 0 {
		return over
	}
	vars := envMap(base)
	out := make([]string, len(over))
	for i, kv := range over {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.Contains(value, "$") {
			out[i] = kv
			continue
		}
		out[i] = name + "=" + ExpandVars(value, vars)
	}
	return out
}

// ExpandVars expands the references in s against vars.
func ExpandVars(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			i++
			continue
		}
		if s[i+1] == '$' {
			b.WriteByte('$')
			i += 2
			continue
		}
		if s[i+1] == '{' {
			end := closingBrace(s, i+2)
			if end < 0 {
				b.WriteString(s[i:])
				break
			}
			if v, ok := expandBraced(s[i+2:end], vars); ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : end+1])
			}
			i = end + 1
			continue
		}
		n := nameLen(s[i+1:])
		if n == 0 {
			b.WriteByte('$')
			i++
			continue
		}
		b.WriteString(vars[s[i+1:i+1+n]])
		i += 1 + n
	}
	return b.String()
}

// expandBraced expands the inside of ${...}; ok is false for forms it does
// not know.
func expandBraced(inner string, vars map[string]string) (string, bool) {
	n := nameLen(inner)
	if n == 0 {
		return "", false
	}
	name, rest := inner[:n], inner[n:]
	value, set := vars[name]
	if rest == "" {
		return value, true
	}
	colon := strings.HasPrefix(rest, ":")
	if colon {
		rest = rest[1:]
	}
	if rest == "" {
		return "", false
	}
	op, word := rest[0], rest[1:]
	present := set && (!colon || value != "")
	switch op {
	case '-':
		if present {
			return value, true
		}
		return ExpandVars(word, vars), true
	case '+':
		if present {
			return ExpandVars(word, vars), true
		}
		return "", true
	}
	return "", false
}

// closingBrace finds the } that closes a ${ whose inside starts at i,
// allowing nested ${...} in the word.
func closingBrace(s string, i int) int {
	depth := 1
	for ; i < len(s); i++ {
		switch {
		case s[i] == '$' && i+1 < len(s) && s[i+1] == '{':
			depth++
			i++
		case s[i] == '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// nameLen is the length of the variable name at the start of s.
func nameLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return i
	}
	return len(s)
}

// ExpandWorkdir expands base-image variables left in a working directory
// ("/$HOME/app", as a Dockerfile's WORKDIR $HOME/app reaches the IR when
// the base image sets HOME). A path element that is a reference to an
// absolute path starts the path again there, as Docker resolves the WORKDIR
// only after expanding it.
func ExpandWorkdir(base []string, dir string) string {
	if !strings.Contains(dir, "$") {
		return dir
	}
	vars := envMap(base)
	var elems []string
	depth, start := 0, 0
	for i := 0; i < len(dir); i++ {
		switch {
		case dir[i] == '$' && i+1 < len(dir) && dir[i+1] == '{':
			depth++
			i++
		case dir[i] == '}' && depth > 0:
			depth--
		case dir[i] == '/' && depth == 0:
			elems = append(elems, dir[start:i])
			start = i + 1
		}
	}
	elems = append(elems, dir[start:])
	out := "/"
	for _, e := range elems {
		v := ExpandVars(e, vars)
		if strings.HasPrefix(e, "$") && strings.HasPrefix(v, "/") {
			out = v
			continue
		}
		out = path.Join(out, v)
	}
	return path.Clean(out)
}

// DestExpander returns a function that maps a copied file's destination
// below dest to where it lands once base-image variables in dest are
// expanded (COPY x ./ under WORKDIR $HOME). Only dest is expanded: a $ in
// a source file's name (Outer$Inner.class) is kept.
func DestExpander(base []string, dest string) func(string) string {
	d := path.Clean("/" + dest)
	if !strings.Contains(d, "$") {
		return func(p string) string { return p }
	}
	x := ExpandWorkdir(base, d)
	return func(p string) string { return Rebase(p, d, x) }
}

// Rebase moves p, when it is d or below it, to the same place at or below
// to; any other path is returned as it is.
func Rebase(p, d, to string) string {
	switch {
	case p == d:
		return to
	case strings.HasPrefix(p, d+"/"):
		return path.Join(to, p[len(d)+1:])
	}
	return p
}

// envMap is an environment's NAME=VALUE list as a map.
func envMap(env []string) map[string]string {
	vars := make(map[string]string, len(env))
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		vars[name] = value
	}
	return vars
}
