package ir

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// Origin is a source range: a span in an .image.hcl file or a Dockerfile.
// It is carried outside every cache key. It is the one conversion between
// the front ends' ranges and what the IR, the engines and the CLI's
// diagnostics carry: OriginOf and Range keep byte offsets both ways, so
// that no one reads a source file again to find them.
type Origin struct {
	File      string `json:"file"`
	Line      int    `json:"line"`
	Column    int    `json:"column,omitempty"`
	EndLine   int    `json:"end_line,omitempty"`
	EndColumn int    `json:"end_column,omitempty"`
	// Byte and EndByte are the range's byte offsets in File, known when
	// EndByte > 0 (a Dockerfile's whole-line ranges have none yet). They
	// only place diagnostics, and are not part of a plan's JSON.
	Byte    int `json:"-"`
	EndByte int `json:"-"`
}

// OriginOf is the origin of a front end's source range.
func OriginOf(r hcl.Range) Origin {
	return Origin{
		File: r.Filename, Line: r.Start.Line, Column: r.Start.Column, EndLine: r.End.Line, EndColumn: r.End.Column,
		Byte: r.Start.Byte, EndByte: r.End.Byte,
	}
}

// Range is the origin as a source range for a diagnostic, or nil when the
// origin is empty. Columns start at 1; an origin without byte offsets
// gives a range without them (HasBytes says which).
func (o Origin) Range() *hcl.Range {
	if o.File == "" {
		return nil
	}
	r := hcl.Range{
		Filename: o.File,
		Start:    hcl.Pos{Line: o.Line, Column: max(o.Column, 1)},
		End:      hcl.Pos{Line: max(o.EndLine, o.Line), Column: max(o.EndColumn, 1)},
	}
	if o.HasBytes() {
		r.Start.Byte, r.End.Byte = o.Byte, o.EndByte
	}
	return &r
}

// HasBytes tells an origin that carries its byte offsets.
func (o Origin) HasBytes() bool { return o.EndByte > 0 }

// String renders "file:line" (or "file:line-endline" for a multi-line span).
func (o Origin) String() string {
	if o.File == "" {
		return ""
	}
	if o.EndLine > o.Line {
		return fmt.Sprintf("%s:%d-%d", o.File, o.Line, o.EndLine)
	}
	return fmt.Sprintf("%s:%d", o.File, o.Line)
}

// StepOrigins are the source ranges of a step: where it is written and,
// for a step expanded from a step definition, its block in the
// definition (so that a failure names both the call and the step).
func StepOrigins(s Step) []Origin {
	out := []Origin{s.Source()}
	var def *Origin
	switch s := s.(type) {
	case *Run:
		def = s.Definition
	case *Copy:
		def = s.Definition
	case *Add:
		def = s.Definition
	}
	if def != nil && def.File != "" {
		out = append(out, *def)
	}
	return out
}

// OriginPtr is the origin of r, or nil when r is the zero range.
func OriginPtr(r hcl.Range) *Origin {
	if r.Filename == "" {
		return nil
	}
	o := OriginOf(r)
	return &o
}
