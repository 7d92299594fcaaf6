package dockerfile

import (
	"regexp"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Words with ${NAME:-word}, ${NAME-word}, ${NAME:+word} or ${NAME+word} on
// an ARG keep the choice in a conversion: an HCL conditional on the
// variable, not the one value the defaults give. The word is parsed here
// (a subset of BuildKit's lexer), and the template is used only when, for
// every variable it reads set to the empty string, to another value and
// to its own, it gives what BuildKit's lexer gives.

// wordPart is a literal, a reference to env.entries[entry], or, with op,
// a modifier on it choosing word.
type wordPart struct {
	lit   string
	entry int // -1 for a literal
	op    string
	word  []wordPart
}

// condParser reads one word.
type condParser struct {
	s   []rune
	i   int
	esc rune
	env envList
}

// parse reads parts up to stop (0: the end), inside double quotes when dq.
func (p *condParser) parse(stop rune, dq bool) ([]wordPart, bool) {
	var out []wordPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, wordPart{lit: lit.String(), entry: -1})
			lit.Reset()
		}
	}
	for p.i < len(p.s) {
		ch := p.s[p.i]
		switch {
		case stop != 0 && ch == stop && !dq:
			flush()
			return out, true
		case dq && ch == '"':
			flush()
			return out, true
		case !dq && ch == '\'':
			end := p.i + 1
			for end < len(p.s) && p.s[end] != '\'' {
				end++
			}
			if end >= len(p.s) {
				return nil, false
			}
			lit.WriteString(string(p.s[p.i+1 : end]))
			p.i = end + 1
		case !dq && ch == '"':
			p.i++
			flush()
			inner, ok := p.parse(0, true)
			if !ok || p.i >= len(p.s) {
				return nil, false
			}
			p.i++ // the closing quote
			out = append(out, inner...)
		case ch == p.esc:
			if p.i+1 >= len(p.s) {
				return nil, false
			}
			next := p.s[p.i+1]
			if dq && next != '"' && next != '$' && next != p.esc {
				lit.WriteRune(ch)
				p.i++
				continue
			}
			lit.WriteRune(next)
			p.i += 2
		case ch == '$':
			flush()
			part, ok := p.dollar(dq)
			if !ok {
				return nil, false
			}
			if part.entry < 0 {
				lit.WriteString(part.lit)
				continue
			}
			out = append(out, part)
		default:
			lit.WriteRune(ch)
			p.i++
		}
	}
	if stop != 0 || dq {
		return nil, false
	}
	flush()
	return out, true
}

func isNameRune(r rune, first bool) bool {
	return r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || !first && r >= '0' && r <= '9'
}

// dollar reads $NAME or ${NAME[op word]}; p.i is at the $.
func (p *condParser) dollar(dq bool) (wordPart, bool) {
	p.i++
	if p.i >= len(p.s) {
		return wordPart{lit: "$", entry: -1}, true
	}
	braced := p.s[p.i] == '{'
	if !braced && !isNameRune(p.s[p.i], true) {
		return wordPart{lit: "$", entry: -1}, true
	}
	if braced {
		p.i++
	}
	start := p.i
	for p.i < len(p.s) && isNameRune(p.s[p.i], p.i == start) {
		p.i++
	}
	name := string(p.s[start:p.i])
	entry := p.env.find(name)
	if name == "" || entry < 0 {
		return wordPart{}, false
	}
	part := wordPart{entry: entry}
	if !braced {
		return part, true
	}
	if p.i >= len(p.s) {
		return wordPart{}, false
	}
	if p.s[p.i] == '}' {
		p.i++
		return part, true
	}
	op := string(p.s[p.i])
	if op == ":" && p.i+1 < len(p.s) {
		op += string(p.s[p.i+1])
	}
	switch op {
	case ":-", ":+", "-", "+":
	default:
		return wordPart{}, false
	}
	p.i += len(op)
	word, ok := p.parse('}', false)
	if !ok || p.i >= len(p.s) || p.s[p.i] != '}' || dq && strings.ContainsAny(string(p.s[start:p.i]), `"'`) {
		return wordPart{}, false
	}
	p.i++
	part.op, part.word = op, word
	return part, true
}

var braceOp = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)([^}A-Za-z0-9_])`)

// opOnTemplated tells a word that applies an operator to a templated
// entry (${X%.*}, ${X/a/b}, ${X:?msg}...).
func opOnTemplated(word string, env envList) bool {
	for _, m := range braceOp.FindAllStringSubmatch(word, -1) {
		if i := env.find(m[1]); i >= 0 && templated(env.entries[i]) {
			return true
		}
	}
	return false
}

// referenced lists the templated entries parts read, once each.
func referenced(parts []wordPart, env envList, seen map[int]bool, out *[]int) {
	for _, p := range parts {
		if p.entry >= 0 && !seen[p.entry] && templated(env.entries[p.entry]) {
			seen[p.entry] = true
			*out = append(*out, p.entry)
		}
		referenced(p.word, env, seen, out)
	}
}

// probeGetter is env with some entries' values replaced.
type probeGetter struct {
	getter
	over map[int]string
}

func (g probeGetter) Get(key string) (string, bool) {
	if v, ok := g.over[g.env.find(key)]; ok {
		return v, true
	}
	return g.getter.Get(key)
}

// evalParts is the value of parts with the entries' values vals.
func evalParts(parts []wordPart, vals func(int) string) string {
	var b strings.Builder
	for _, p := range parts {
		switch {
		case p.entry < 0:
			b.WriteString(p.lit)
		case p.op == "" || p.op == "-":
			// Every entry of the form's env is set (an ARG without a
			// value is empty), so ${X-w} is X.
			b.WriteString(vals(p.entry))
		case p.op == "+":
			b.WriteString(evalParts(p.word, vals))
		case p.op == ":-" && vals(p.entry) == "":
			b.WriteString(evalParts(p.word, vals))
		case p.op == ":-":
			b.WriteString(vals(p.entry))
		case p.op == ":+" && vals(p.entry) != "":
			b.WriteString(evalParts(p.word, vals))
		}
	}
	return b.String()
}

// templated tells an entry whose value comes from a variable.
func templated(e envEntry) bool { return e.Tmpl != quoteLit(e.Value) }

// hasCond tells parts with a modifier on a templated entry.
func hasCond(parts []wordPart, env envList) bool {
	for _, p := range parts {
		if p.entry >= 0 && p.op != "" && templated(env.entries[p.entry]) || hasCond(p.word, env) {
			return true
		}
	}
	return false
}

// renderParts is parts as the inside of an HCL quoted template.
func renderParts(parts []wordPart, env envList) string {
	var b strings.Builder
	for _, p := range parts {
		if p.entry < 0 {
			b.WriteString(quoteLit(p.lit))
			continue
		}
		e := env.entries[p.entry]
		if !templated(e) {
			b.WriteString(quoteLit(evalParts([]wordPart{p}, func(i int) string { return env.entries[i].Value })))
			continue
		}
		word := renderParts(p.word, env)
		switch p.op {
		case "", "-":
			b.WriteString(nullGuard(e))
		case "+":
			b.WriteString(word)
		case ":-":
			b.WriteString("${" + emptyTest(e) + ` ? "` + word + `" : ` + entryExpr(e) + "}")
		case ":+":
			b.WriteString("${" + emptyTest(e) + ` ? "" : "` + word + `"}`)
		}
	}
	return b.String()
}

// entryExpr is an HCL expression for a templated entry's value; for a
// null variable, only where it is known not to be null.
func entryExpr(e envEntry) string {
	if ref, ok := bareTmpl(e.Tmpl); ok {
		return ref
	}
	return `"` + nullGuard(e) + `"`
}

// emptyTest is an HCL condition true when the entry is empty (or null).
func emptyTest(e envEntry) string {
	if ref, ok := bareTmpl(e.Tmpl); ok && e.Null {
		return ref + " == null || " + ref + ` == ""`
	}
	return entryExpr(e) + ` == ""`
}

// bareTmpl is the expression of a template that is one interpolation.
func bareTmpl(tmpl string) (string, bool) {
	if !strings.HasPrefix(tmpl, "${") || !strings.HasSuffix(tmpl, "}") {
		return "", false
	}
	inner := tmpl[2 : len(tmpl)-1]
	if strings.ContainsAny(inner, `${}"`) {
		return "", false
	}
	return inner, true
}

// condTemplate is the template of a word with modifiers on templated
// entries, when it is verified against BuildKit's lexer; ok is false
// when the word has none, and tmpl "" when it has some but the template
// could not be verified.
func condTemplate(lex *shell.Lex, esc rune, word string, env envList) (tmpl string, ok bool) {
	p := &condParser{s: []rune(word), esc: esc, env: env}
	parts, parsed := p.parse(0, false)
	if !parsed {
		// ${X%pattern} and friends: HCL has no such operator.
		return "", opOnTemplated(word, env)
	}
	if !hasCond(parts, env) {
		return "", false
	}
	var vars []int
	referenced(parts, env, map[int]bool{}, &vars)
	for _, i := range vars {
		// A choice on a value computed from variables (an ENV of ARGs)
		// would repeat its template in the condition and the branch, so
		// chained ENVs would grow exponentially: the defaults' value.
		if _, bare := bareTmpl(env.entries[i].Tmpl); !bare {
			return "", true
		}
	}
	values := func(over map[int]string) func(int) string {
		return func(i int) string {
			if v, ok := over[i]; ok {
				return v
			}
			return env.entries[i].Value
		}
	}
	probes := []map[int]string{{}}
	for _, v := range []string{"", "p\uE002"} {
		all := map[int]string{}
		for _, i := range vars {
			probes = append(probes, map[int]string{i: v})
			all[i] = v
		}
		probes = append(probes, all)
	}
	for _, over := range probes {
		res, err := lex.ProcessWordWithMatches(word, probeGetter{getter: getter{env: env}, over: over})
		if err != nil || res.Result != evalParts(parts, values(over)) {
			return "", true
		}
	}
	return renderParts(parts, env), true
}
