package lang

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// shallow tells, without lexing, that checkNesting would find src (a
// configuration file) nested at most limit levels deep; false means it
// could not tell, and the file must be lexed and checked. Lexing a large
// file costs as much as parsing it (a 1,000-step file: about 5 ms and
// 5 MB of tokens), and nearly every file is shallow.
//
// It walks the bytes as HCL's lexer does in its normal and quoted-string
// modes: comments, strings and their escapes, ${ } interpolations and
// brackets, and gives up on what it does not follow (heredocs, %{ }
// directives, closing brackets that do not match, broken UTF-8). The
// depth it counts is never less than checkNesting's for the same input: it
// opens and closes the same levels, resets the operators at the same
// commas and newlines, and counts every !, - and ? outside strings and
// comments as an operator, where the lexer may see part of an identifier,
// a number or != (counting more only makes it give up sooner).
func shallow(src []byte, limit int) bool {
	return walkNesting(src, limit, nil)
}

// nestEvent is what walkNesting tells its observer: a newline outside
// strings and comments, or a top-level block's brace.
type nestEvent int

const (
	// eventNewline: a newline token at src[i], with open levels open (1 at
	// the top level of the file, 2 in a top-level block's body, ...).
	eventNewline nestEvent = iota
	// eventOpen: the { at src[i] opens a top-level block's body.
	eventOpen
	// eventClose: the } at src[i] closes it.
	eventClose
)

// walkNesting is shallow, telling observe (if not nil) of the events on
// the way; its answer is shallow's.
func walkNesting(src []byte, limit int, observe func(ev nestEvent, i, open int)) bool {
	if observe == nil {
		observe = func(nestEvent, int, int) {}
	}
	// The lexer's reading of broken UTF-8 is its own (a stray lead
	// byte can take the quote after it).
	if !utf8.Valid(src) {
		return false
	}
	w := &nestWalk{src: src, stack: []nestLevel{{kind: '{'}}, observe: observe}
	for i := 0; i < len(src); i++ {
		var ok bool
		if w.stack[len(w.stack)-1].kind == '"' {
			i, ok = w.quoted(i)
		} else {
			i, ok = w.normal(i)
		}
		if !ok || w.depth > limit {
			return false
		}
	}
	return len(w.stack) == 1
}

// nestWalk is walkNesting's state: the levels open and their depth as
// checkNesting counts it.
type nestWalk struct {
	src     []byte
	stack   []nestLevel
	depth   int
	observe func(ev nestEvent, i, open int)
}

type nestLevel struct {
	kind byte // '{', '[', '(', '"' or '$' (an interpolation)
	ops  int
}

func (w *nestWalk) push(kind byte) {
	w.stack = append(w.stack, nestLevel{kind: kind})
	w.depth++
}

// pop closes the innermost level if it is one of kinds.
func (w *nestWalk) pop(kinds string) bool {
	top := w.stack[len(w.stack)-1]
	if len(w.stack) == 1 || strings.IndexByte(kinds, top.kind) < 0 {
		return false
	}
	w.depth -= 1 + top.ops
	w.stack = w.stack[:len(w.stack)-1]
	return true
}

// quoted takes src[i] inside a quoted string, where only an escape, an
// interpolation or the closing quote matter; it returns the last index
// it took, and false if it cannot follow.
func (w *nestWalk) quoted(i int) (int, bool) {
	src, c := w.src, w.src[i]
	switch {
	case c == '\\' && i+1 < len(src) && src[i+1] != '\n' && src[i+1] != '\r':
		i++
	case c == '"':
		w.pop(`"`)
	case (c == '$' || c == '%') && i+1 < len(src) && src[i+1] == c && i+2 < len(src) && src[i+2] == '{':
		i += 2 // $${ and %%{ are literal
	case c == '$' && i+1 < len(src) && src[i+1] == '{':
		w.push('$')
		i++
	case c == '%' && i+1 < len(src) && src[i+1] == '{':
		return i, false // a directive: if and for nest too
	}
	return i, true
}

// normal takes src[i] outside strings, as quoted does.
func (w *nestWalk) normal(i int) (int, bool) {
	src, c := w.src, w.src[i]
	top := &w.stack[len(w.stack)-1]
	switch c {
	case '#':
		i = lineEnd(src, i)
	case '/':
		if i+1 < len(src) && src[i+1] == '/' {
			i = lineEnd(src, i)
		} else if i+1 < len(src) && src[i+1] == '*' {
			end := bytes.Index(src[i+2:], []byte("*/"))
			if end < 0 {
				return i, false
			}
			i += 2 + end + 1
		}
	case '<':
		if i+1 < len(src) && src[i+1] == '<' {
			return i, false // a heredoc, perhaps
		}
	case '{', '[', '(', '"':
		if c == '{' && len(w.stack) == 1 {
			w.observe(eventOpen, i, 2)
		}
		w.push(c)
	case '}':
		if !w.pop("{$") {
			return i, false
		}
		if len(w.stack) == 1 {
			w.observe(eventClose, i, 1)
		}
	case ']':
		if !w.pop("[") {
			return i, false
		}
	case ')':
		if !w.pop("(") {
			return i, false
		}
	case '!', '-', '?':
		top.ops++
		w.depth++
	case ',':
		w.depth -= top.ops
		top.ops = 0
	case '\n':
		if top.kind == '{' {
			w.depth -= top.ops
			top.ops = 0
		}
		w.observe(eventNewline, i, len(w.stack))
	}
	return i, true
}

// lineEnd is the index of the newline ending the line at i (a comment's,
// which the lexer takes into the comment), or the last index.
func lineEnd(src []byte, i int) int {
	for ; i < len(src); i++ {
		if src[i] == '\n' {
			return i
		}
	}
	return len(src) - 1
}
