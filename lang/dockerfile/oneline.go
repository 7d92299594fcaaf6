package dockerfile

import (
	"bytes"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// oneLineBlocks writes each block of src that holds one single-line
// attribute, and nothing else, on one line (`mount "cache" { target =
// "/root/.cache" }`), as a person would. The block ranges come from the
// parser (f is src parsed), so heredocs and strings are never touched.
// Top-level blocks (variables, stages) keep their shape.
func oneLineBlocks(f *hcl.File, src []byte) []byte {
	type edit struct {
		start, end int
		text       string
	}
	var edits []edit
	var walk func(b *hclsyntax.Body, top bool)
	walk = func(b *hclsyntax.Body, top bool) {
		for _, blk := range b.Blocks {
			walk(blk.Body, false)
			if top || len(blk.Body.Attributes) != 1 || len(blk.Body.Blocks) != 0 {
				continue
			}
			var attr *hclsyntax.Attribute
			for _, a := range blk.Body.Attributes {
				attr = a
			}
			r := attr.SrcRange
			if r.Start.Line != r.End.Line {
				continue
			}
			text := string(src[r.Start.Byte:r.End.Byte])
			inner := src[blk.OpenBraceRange.End.Byte:blk.CloseBraceRange.Start.Byte]
			if strings.TrimSpace(string(inner)) != text || !bytes.Contains(inner, []byte("\n")) {
				// A comment inside, or one line already.
				continue
			}
			edits = append(edits, edit{blk.OpenBraceRange.End.Byte, blk.CloseBraceRange.Start.Byte, " " + text + " "})
		}
	}
	walk(f.Body.(*hclsyntax.Body), true)
	if len(edits) == 0 {
		return src
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].start > edits[j].start })
	out := append([]byte(nil), src...)
	for _, e := range edits {
		out = append(out[:e.start], append([]byte(e.text), out[e.end:]...)...)
	}
	// Still formatted: a block's single attribute is not aligned with
	// anything, and a nested block aligns nothing around it.
	return out
}
