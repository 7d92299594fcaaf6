package lang

import (
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Bounds on input, checked before parsing: HCL's parser recurses once per
// level of nesting, and a hostile file nested 100,000 deep would overflow
// the Go stack and kill the process instead of getting a diagnostic.
const (
	// MaxSourceSize is the largest configuration, var file, lock file or
	// Dockerfile imgc reads, in bytes.
	MaxSourceSize = 1 << 20
	// MaxNesting is how deeply blocks, brackets, templates and operators
	// may nest in one file or value.
	MaxNesting = 200
)

// ReadSource reads a file that imgc will parse, refusing one larger than
// MaxSourceSize. what names the file for people ("Configuration file").
func ReadSource(path, what string) ([]byte, hcl.Diagnostics) {
	f, err := os.Open(path)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Unreadable " + lower(what),
			Detail:   fmt.Sprintf("Reading %s: %s.", path, err),
		}}
	}
	defer f.Close()
	// A FIFO or device has no size to check first: the limited read bounds
	// what is taken from it.
	src, err := io.ReadAll(io.LimitReader(f, MaxSourceSize+1))
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Unreadable " + lower(what),
			Detail:   fmt.Sprintf("Reading %s: %s.", path, err),
		}}
	}
	if len(src) > MaxSourceSize {
		return nil, tooLarge(path, what)
	}
	return src, nil
}

func tooLarge(path, what string) hcl.Diagnostics {
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  what + " too large",
		Detail: fmt.Sprintf("%s is larger than %d KiB, the most imgc reads from one file. Split a configuration into several %s files in one directory.",
			path, MaxSourceSize>>10, FileSuffix),
	}}
}

func lower(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}

// CheckSource refuses HCL source that is too large or nests too deeply to
// be parsed safely. It only lexes, which does not recurse, and not even
// that when a walk over the bytes shows the file shallow.
func CheckSource(filename string, src []byte) hcl.Diagnostics {
	if len(src) > MaxSourceSize {
		return tooLarge(filename, "File")
	}
	if shallow(src, MaxNesting) {
		return nil
	}
	tokens, _ := hclsyntax.LexConfig(src, filename, hcl.InitialPos)
	return checkNesting(tokens, "file", MaxNesting)
}

// checkExpression is CheckSource for an expression given as text (a --var
// value).
func checkExpression(filename string, src []byte) hcl.Diagnostics {
	if len(src) > MaxSourceSize {
		return tooLarge(filename, "Value")
	}
	tokens, _ := hclsyntax.LexExpression(src, filename, hcl.InitialPos)
	return checkNesting(tokens, "value", MaxNesting)
}

// checkNesting bounds the parser's recursion: each bracket, block,
// template interpolation or directive opens a level, and so does each
// unary operator or conditional in a row, which nest without brackets
// (!!!!x, a ? b : c ? d : ...). It overestimates (a - b - c counts the
// minus signs too), which only matters past limit (MaxNesting, but for
// tests).
func checkNesting(tokens hclsyntax.Tokens, what string, limit int) hcl.Diagnostics {
	type level struct {
		ops int  // operators counted since this level opened
		seq bool // newlines end an item here (a body or an object)
	}
	stack := []level{{seq: true}}
	depth := 0
	afterControl := false
	for i := range tokens {
		tok := &tokens[i]
		top := &stack[len(stack)-1]
		switch tok.Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen,
			hclsyntax.TokenOQuote, hclsyntax.TokenOHeredoc,
			hclsyntax.TokenTemplateInterp, hclsyntax.TokenTemplateControl:
			stack = append(stack, level{seq: tok.Type == hclsyntax.TokenOBrace})
			depth++
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen,
			hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc, hclsyntax.TokenTemplateSeqEnd:
			if len(stack) > 1 {
				depth -= 1 + top.ops
				stack = stack[:len(stack)-1]
			}
		case hclsyntax.TokenBang, hclsyntax.TokenMinus, hclsyntax.TokenQuestion:
			top.ops++
			depth++
		case hclsyntax.TokenComma:
			depth -= top.ops
			top.ops = 0
		case hclsyntax.TokenNewline:
			if top.seq {
				depth -= top.ops
				top.ops = 0
			}
		case hclsyntax.TokenIdent:
			// %{ if } and %{ for } nest until their %{ end... }.
			if afterControl {
				switch string(tok.Bytes) {
				case "if", "for":
					stack[0].ops++
					depth++
				case "endif", "endfor":
					if stack[0].ops > 0 {
						stack[0].ops--
						depth--
					}
				}
			}
		}
		afterControl = tok.Type == hclsyntax.TokenTemplateControl
		if depth > limit {
			return hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Nesting too deep",
				Detail: fmt.Sprintf("This %s nests blocks, brackets, templates or operators more than %d levels deep, the most imgc parses. Flatten it, for example with locals.",
					what, limit),
				Subject: tok.Range.Ptr(),
			}}
		}
	}
	return nil
}

// ParseFile parses an HCL file with parser after checking its bounds. A
// file refused for its nesting still joins parser's files, for snippets.
func ParseFile(parser *hclparse.Parser, path, what string) (*hcl.File, hcl.Diagnostics) {
	src, diags := ReadSource(path, what)
	if diags.HasErrors() {
		return nil, diags
	}
	if diags := CheckSource(path, src); diags.HasErrors() {
		return &hcl.File{Bytes: src}, diags
	}
	return parseHCL(parser, src, path)
}
