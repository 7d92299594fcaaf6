package dockerfile

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// envEntry is one variable of an expansion scope. Tmpl is the value as the
// inside of an HCL quoted template, so that a value taken from a Dockerfile
// ARG stays a reference to its variable in a conversion.
type envEntry struct {
	Name  string
	Value string
	Tmpl  string
	// Unset are the variables of the base image's environment the value
	// still references as written.
	Unset map[string]struct{}
	// Null is an ARG declared without a value: unset in the steps' env
	// (Docker's unset is not empty), empty where a word expands it, and,
	// in a conversion, a variable that defaults to null (Tmpl its bare
	// reference).
	Null bool
}

// model is the value as the model's env carries it: the runtime expands
// $NAME there against the base image's environment, so every $ that is
// not a kept reference to the base image is written $$.
func (e envEntry) model() string {
	return escapeDollars(e.Value, e.Unset)
}

// text is model with its template.
func (e envEntry) text() text {
	return textOf(expansion{Value: e.model(), Tmpl: e.modelTmpl()})
}

// baseText is word x as a value the runtime expands against the base
// image's environment (a label's, an exposed port's, a volume's or the
// stop signal, as an env value's): its references to variables only the
// base image sets stay, and every other $ is written $$.
func baseText(x expansion) text {
	return envEntry{Value: x.Value, Tmpl: x.Tmpl, Unset: x.Unset}.text()
}

// modelTmpl is model as an HCL template.
func (e envEntry) modelTmpl() string {
	if e.Tmpl == quoteLit(e.Value) {
		return quoteLit(e.model())
	}
	return e.Tmpl
}

// escapeDollars doubles every $ of s except those starting a reference
// ($NAME, ${NAME...}) to a name in keep.
func escapeDollars(s string, keep map[string]struct{}) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		rest := strings.TrimPrefix(s[i+1:], "{")
		n := 0
		for n < len(rest) && (rest[n] == '_' || rest[n] >= 'a' && rest[n] <= 'z' || rest[n] >= 'A' && rest[n] <= 'Z' || n > 0 && rest[n] >= '0' && rest[n] <= '9') {
			n++
		}
		if _, ok := keep[rest[:n]]; ok && n > 0 {
			b.WriteByte('$')
			continue
		}
		b.WriteString("$$")
	}
	return b.String()
}

// envList is an ordered environment: BuildKit keeps the order in which
// variables were first set and replaces values in place. Like a slice, a
// copy shares its entries until cloned. The index makes lookups constant
// time: a Dockerfile of n ENV lines took time n² to import.
type envList struct {
	entries []envEntry
	index   map[string]int // name -> position in entries
}

func (l envList) len() int { return len(l.entries) }

// find is the position of name, or -1. Every name set is in the index;
// a copy sharing the index may have added names past this one's end, or
// at the same position, so a position is checked before it is trusted.
func (l envList) find(name string) int {
	i, ok := l.index[name]
	if !ok {
		return -1
	}
	if i < len(l.entries) && l.entries[i].Name == name {
		return i
	}
	for i := range l.entries {
		if l.entries[i].Name == name {
			return i
		}
	}
	return -1
}

func (l envList) get(name string) (envEntry, bool) {
	if i := l.find(name); i >= 0 {
		return l.entries[i], true
	}
	return envEntry{}, false
}

func (l envList) set(e envEntry) envList {
	if i := l.find(e.Name); i >= 0 {
		l.entries[i] = e
		return l
	}
	if l.index == nil {
		l.index = map[string]int{}
	}
	l.index[e.Name] = len(l.entries)
	l.entries = append(l.entries, e)
	return l
}

func (l envList) clone() envList {
	c := envList{entries: append([]envEntry(nil), l.entries...), index: make(map[string]int, len(l.entries))}
	for i, e := range l.entries {
		c.index[e.Name] = i
	}
	return c
}

// getter adapts an envList to BuildKit's shell.EnvGetter. With sentinels
// set, a value that has a template is replaced by a marker that
// expandTemplate turns back into the template.
type getter struct {
	env       envList
	sentinels bool
}

func (g getter) Get(key string) (string, bool) {
	i := g.env.find(key)
	if i < 0 {
		return "", false
	}
	e := g.env.entries[i]
	if g.sentinels && e.Tmpl != quoteLit(e.Value) {
		return sentinelOpen + strconv.Itoa(i) + sentinelClose, true
	}
	return e.Value, true
}

func (g getter) Keys() []string {
	keys := make([]string, g.env.len())
	for i, e := range g.env.entries {
		keys[i] = e.Name
	}
	return keys
}

// Private-use runes mark where a variable's value was substituted.
const (
	sentinelOpen  = "\uE000"
	sentinelClose = "\uE001"
)

// expansion is the result of expanding one word.
type expansion struct {
	Value string
	// Tmpl is the HCL quoted-template text giving the same value.
	Tmpl string
	// Matched are the variables the word referenced, sorted.
	Matched []string
	// Unset are the variables kept as written for the base image's
	// environment.
	Unset map[string]struct{}
	// Lost is a word whose expansion of a variable HCL cannot say
	// (${X%.*}): Tmpl is the value the defaults give.
	Lost bool
	// Large is a word whose template would exceed maxTemplate (values
	// that double each other through ARGs): Tmpl is the value.
	Large bool
}

// maxTemplate bounds the template of one word: each ENV that doubles
// an earlier one (ENV B=$A$A, C=$B$B over an ARG A) doubles the
// references to the ARG, and past this the conversion keeps the value.
const maxTemplate = 1 << 16

// expandWord expands word like BuildKit expands ADD, COPY, ENV and the
// other instructions it processes. keepUnset leaves references to
// variables this Dockerfile never set as written, because they name the
// base image's environment, which is only known when the image is pulled.
// maxExpansion bounds what one word of a Dockerfile may expand to: as much
// as a whole Dockerfile may hold.
const maxExpansion = 1 << 20

func (rd *reader) expandWord(word string, env envList, keepUnset bool) (expansion, error) {
	lex := rd.lex
	if keepUnset {
		lex = rd.lexKeep
	}
	return rd.expandWith(lex, rd.escape, word, env, keepUnset)
}

// expandWith is expandWord with the lexer lex, whose escape character is
// escape.
func (rd *reader) expandWith(lex *shell.Lex, escape rune, word string, env envList, keepUnset bool) (expansion, error) {
	res, err := lex.ProcessWordWithMatches(word, getter{env: env})
	if err != nil {
		return expansion{}, err
	}
	if len(res.Result) > maxExpansion {
		// Values that double each other (ENV B=$A$A, C=$B$B, ...) grow
		// exponentially with the lines: bound every one.
		return expansion{}, fmt.Errorf("the word %.40q expands to %d bytes, more than the %d a Dockerfile value may have", word, len(res.Result), maxExpansion)
	}
	x := expansion{Value: res.Result}
	if keepUnset && len(res.Unmatched) > 0 {
		x.Unset = res.Unmatched
	}
	for name := range res.Matched {
		if e, ok := env.get(name); ok {
			x.Matched = append(x.Matched, name)
			// A value that still refers to the base image's environment
			// (PATH=/x:$PATH) passes that reference on to the values made
			// from it (PATH=/y:$PATH gives /y:/x:$PATH, $PATH kept).
			for u := range e.Unset {
				if x.Unset == nil {
					x.Unset = map[string]struct{}{}
				}
				x.Unset[u] = struct{}{}
			}
		}
	}
	sort.Strings(x.Matched)
	x.Tmpl = quoteLit(x.Value)
	if len(x.Matched) == 0 {
		return x, nil
	}
	if tmpl, ok := condTemplate(lex, escape, word, env); ok {
		// A choice on a variable: kept as an HCL conditional when
		// verified, else the value (the defaults' choice) as written.
		if tmpl != "" {
			x.Tmpl = tmpl
		} else {
			x.Lost = true
		}
		return x, nil
	}
	marked, err := lex.ProcessWordWithMatches(word, getter{env: env, sentinels: true})
	if err != nil {
		return x, nil
	}
	value, tmpl, ok := splitSentinels(marked.Result, env)
	switch {
	case !ok || value != x.Value:
	case len(tmpl) > maxTemplate:
		x.Large = true
	default:
		x.Tmpl = tmpl
	}
	return x, nil
}

// splitSentinels rebuilds a value and its template from a word expanded
// with sentinels. ok is false when the markers were mangled (for example
// by ${VAR%pattern}), in which case the caller keeps the literal value.
func splitSentinels(s string, env envList) (value, tmpl string, ok bool) {
	var v, t strings.Builder
	for {
		i := strings.Index(s, sentinelOpen)
		if i < 0 {
			if strings.Contains(s, sentinelClose) {
				return "", "", false
			}
			v.WriteString(s)
			t.WriteString(quoteLit(s))
			return v.String(), t.String(), true
		}
		lit := s[:i]
		if strings.Contains(lit, sentinelClose) {
			return "", "", false
		}
		v.WriteString(lit)
		t.WriteString(quoteLit(lit))
		s = s[i+len(sentinelOpen):]
		j := strings.Index(s, sentinelClose)
		if j < 0 {
			return "", "", false
		}
		n, err := strconv.Atoi(s[:j])
		if err != nil || n < 0 || n >= env.len() {
			return "", "", false
		}
		v.WriteString(env.entries[n].Value)
		if t.Len() <= maxTemplate {
			t.WriteString(nullGuard(env.entries[n]))
		}
		s = s[j+len(sentinelClose):]
	}
}

// nullGuard is an entry's template inside a string: a null variable
// interpolates as "", as Docker expands an unset ARG.
func nullGuard(e envEntry) string {
	if !e.Null || !strings.HasPrefix(e.Tmpl, "${") || !strings.HasSuffix(e.Tmpl, "}") {
		return e.Tmpl
	}
	ref := e.Tmpl[2 : len(e.Tmpl)-1]
	return "${" + ref + " != null ? " + ref + ` : ""}`
}

// newLexers returns BuildKit's lexer for the escape token, and the same
// lexer keeping unset variables as written.
func newLexers(escape rune) (*shell.Lex, *shell.Lex) {
	keep := shell.NewLex(escape)
	keep.SkipUnsetEnv = true
	return shell.NewLex(escape), keep
}
