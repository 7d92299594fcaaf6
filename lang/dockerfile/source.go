package dockerfile

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/model"
)

// source is a Dockerfile's bytes with the line index needed to turn
// BuildKit's line numbers into hcl.Ranges.
type source struct {
	filename string
	src      []byte
	// starts[i] is the byte offset of line i+1.
	starts []int
}

func newSource(filename string, src []byte) *source {
	s := &source{filename: filename, src: src, starts: []int{0}}
	for i, b := range src {
		if b == '\n' && i+1 < len(src) {
			s.starts = append(s.starts, i+1)
		}
	}
	return s
}

// lines returns a range covering the whole of lines start..end (1-based,
// inclusive), without the final newline.
func (s *source) lines(start, end int) hcl.Range {
	if start < 1 {
		start = 1
	}
	if start > len(s.starts) {
		start = len(s.starts)
	}
	if end < start {
		end = start
	}
	if end > len(s.starts) {
		end = len(s.starts)
	}
	from := s.starts[start-1]
	to := len(s.src)
	if end < len(s.starts) {
		to = s.starts[end] - 1
	}
	lineEnd := s.src[s.starts[end-1]:to]
	lineEnd = bytes.TrimSuffix(lineEnd, []byte("\n"))
	lineEnd = bytes.TrimSuffix(lineEnd, []byte("\r"))
	to = s.starts[end-1] + len(lineEnd)
	return hcl.Range{
		Filename: s.filename,
		Start:    hcl.Pos{Line: start, Column: 1, Byte: from},
		End:      hcl.Pos{Line: end, Column: len(lineEnd) + 1, Byte: to},
	}
}

// node returns the range of one instruction of the parsed AST.
func (s *source) node(n *parser.Node) hcl.Range {
	return s.lines(n.StartLine, n.EndLine)
}

// locations returns the range of BuildKit parser locations.
func (s *source) locations(locs []parser.Range) hcl.Range {
	if len(locs) == 0 {
		return s.lines(1, 1)
	}
	return s.lines(locs[0].Start.Line, locs[len(locs)-1].End.Line)
}

// errorRange finds the line an error of the BuildKit parser points at.
func (s *source) errorRange(err error, fallback *hcl.Range) hcl.Range {
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		return s.locations(le.Locations[0])
	}
	if fallback != nil {
		return *fallback
	}
	return s.lines(1, 1)
}

// errorText is err's message without the wrappers BuildKit adds around
// locations, and with a lower-case start as our messages have.
func errorText(err error) string {
	var ui *instructions.UnknownInstructionError
	if errors.As(err, &ui) {
		return fmt.Sprintf("unknown instruction %q", ui.Instruction)
	}
	var le *parser.LocationError
	if errors.As(err, &le) {
		err = le.Unwrap()
	}
	msg := err.Error()
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "dockerfile parse error on line") {
		msg = msg[i+2:]
	}
	return msg
}

// sentence is an error message of BuildKit's, trimmed, as a sentence.
func sentence(msg string) string {
	return model.Sentence(strings.TrimSpace(msg))
}

// checkSize refuses a Dockerfile larger than any imgc reads.
func checkSize(filename string, src []byte) hcl.Diagnostics {
	if len(src) <= lang.MaxSourceSize {
		return nil
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Dockerfile too large",
		Detail:   fmt.Sprintf("%s is larger than %d KiB, the most imgc reads from one file.", filename, lang.MaxSourceSize>>10),
	}}
}

// parseInstruction is BuildKit's ParseInstruction with a linter that
// reports nothing: ParseInstruction passes a nil one, which a
// "# check=..." comment before the instruction dereferences.
func parseInstruction(n *parser.Node) (any, error) {
	return instructions.ParseInstructionWithLinter(n, linter.New(&linter.Config{}))
}
