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
	type level struct {
		kind byte // '{', '[', '(', '"' or '$' (an interpolation)
		ops  int
	}
	stack := []level{{kind: '{'}}
	depth := 0
	push := func(kind byte) {
		stack = append(stack, level{kind: kind})
		depth++
	}
	// pop closes the innermost level if it is one of kinds.
	pop := func(kinds string) bool {
		top := stack[len(stack)-1]
		if len(stack) == 1 || strings.IndexByte(kinds, top.kind) < 0 {
			return false
		}
		depth -= 1 + top.ops
		stack = stack[:len(stack)-1]
		return true
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		top := &stack[len(stack)-1]
		if top.kind == '"' {
			// Inside a quoted string: only an escape, an
			// interpolation or the closing quote matter.
			switch {
			case c == '\\' && i+1 < len(src) && src[i+1] != '\n' && src[i+1] != '\r':
				i++
			case c == '"':
				pop(`"`)
			case (c == '$' || c == '%') && i+1 < len(src) && src[i+1] == c && i+2 < len(src) && src[i+2] == '{':
				i += 2 // $${ and %%{ are literal
			case c == '$' && i+1 < len(src) && src[i+1] == '{':
				push('$')
				i++
			case c == '%' && i+1 < len(src) && src[i+1] == '{':
				return false // a directive: if and for nest too
			}
			if depth > limit {
				return false
			}
			continue
		}
		switch c {
		case '#':
			i = lineEnd(src, i)
		case '/':
			if i+1 < len(src) && src[i+1] == '/' {
				i = lineEnd(src, i)
			} else if i+1 < len(src) && src[i+1] == '*' {
				end := bytes.Index(src[i+2:], []byte("*/"))
				if end < 0 {
					return false
				}
				i += 2 + end + 1
			}
		case '<':
			if i+1 < len(src) && src[i+1] == '<' {
				return false // a heredoc, perhaps
			}
		case '{', '[', '(', '"':
			if c == '{' && len(stack) == 1 {
				observe(eventOpen, i, 2)
			}
			push(c)
		case '}':
			if !pop("{$") {
				return false
			}
			if len(stack) == 1 {
				observe(eventClose, i, 1)
			}
		case ']':
			if !pop("[") {
				return false
			}
		case ')':
			if !pop("(") {
				return false
			}
		case '!', '-', '?':
			top.ops++
			depth++
		case ',':
			depth -= top.ops
			top.ops = 0
		case '\n':
			if top.kind == '{' {
				depth -= top.ops
				top.ops = 0
			}
			observe(eventNewline, i, len(stack))
		}
		if depth > limit {
			return false
		}
	}
	return len(stack) == 1
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
