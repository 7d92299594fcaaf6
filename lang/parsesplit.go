package lang

import (
	"bytes"
	"runtime"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// splitChunkSize is the least source a core is given to parse: below it,
// starting another is not worth it.
const splitChunkSize = 16 << 10

// parseHCL parses src as parser.ParseHCL does, on several cores when
// most of a large file is one block (an image of 1,000 steps: parsing it
// was a quarter of `imgc plan`'s time). See parseSplit.
func parseHCL(parser *hclparse.Parser, src []byte, filename string) (*hcl.File, hcl.Diagnostics) {
	if f := parser.Files()[filename]; f != nil {
		return f, nil // as ParseHCL does for a file parsed before
	}
	if n := min(runtime.GOMAXPROCS(0), 4); n > 1 && len(src) >= 2*splitChunkSize {
		if f, ok := parseSplit(src, filename, n, splitChunkSize); ok {
			parser.AddFile(filename, f)
			return f, nil
		}
	}
	return parser.ParseHCL(src, filename)
}

// parseSplit parses src in up to n pieces at once and joins them, when
// the largest top-level block's body can be cut between its items into
// pieces of at least minChunk bytes. The first piece is src with the
// items of the others blanked (spaces; newlines kept, so that every
// position stays the same); each other piece is its items alone, parsed
// from their position as a file's body. The block's items are then the
// first piece's followed by each other's, in order. ok is false when src
// cannot be cut, or a piece has any diagnostic, or two pieces set the
// same argument of the block: parsing src whole then gives the right
// diagnostics.
func parseSplit(src []byte, filename string, n, minChunk int) (*hcl.File, bool) {
	cuts, open, last, ok := splitPoints(src, n, minChunk)
	if !ok {
		return nil, false
	}
	files := make([]*hcl.File, len(cuts)+1)
	diags := make([]hcl.Diagnostics, len(cuts)+1)
	var wg sync.WaitGroup
	for k, from := range cuts {
		to := last
		if k+1 < len(cuts) {
			to = cuts[k+1]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := hcl.Pos{Line: 1 + bytes.Count(src[:from], []byte("\n")), Column: 1, Byte: from}
			files[k+1], diags[k+1] = hclsyntax.ParseConfig(src[from:to], filename, start)
		}()
	}
	files[0], diags[0] = hclsyntax.ParseConfig(blank(src, cuts[0], last), filename, hcl.InitialPos)
	wg.Wait()
	for _, d := range diags {
		if len(d) > 0 {
			return nil, false
		}
	}
	block := blockAt(files[0], open)
	if block == nil {
		return nil, false
	}
	for _, f := range files[1:] {
		part := f.Body.(*hclsyntax.Body)
		for name, a := range part.Attributes {
			if _, dup := block.Body.Attributes[name]; dup {
				return nil, false // "Attribute redefined", from a whole parse
			}
			block.Body.Attributes[name] = a
		}
		block.Body.Blocks = append(block.Body.Blocks, part.Blocks...)
	}
	f := files[0]
	f.Bytes = src
	return f, true
}

// blockAt is f's top-level block whose body opens at byte open.
func blockAt(f *hcl.File, open int) *hclsyntax.Block {
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return nil
	}
	for _, b := range body.Blocks {
		if b.OpenBraceRange.Start.Byte == open {
			return b
		}
	}
	return nil
}

// splitPoints finds where to cut src for parseSplit: the largest
// top-level block's body opens at byte open, with its items on whole
// lines from the line after the brace to last, the start of the line of
// its closing brace (which holds nothing before it); cuts are the starts
// of lines between items at which to cut them into up to n pieces of at
// least minChunk bytes.
func splitPoints(src []byte, n, minChunk int) (cuts []int, open, last int, ok bool) {
	if len(src) >= 3 && src[0] == 0xef && src[1] == 0xbb && src[2] == 0xbf {
		return nil, 0, 0, false // a byte order mark shifts the first line's columns
	}
	type block struct {
		open, close int
		items       []int // starts of lines that begin an item
	}
	var blocks []block
	var cur *block
	shallowOK := walkNesting(src, MaxNesting, func(ev nestEvent, i, levels int) {
		switch ev {
		case eventOpen:
			blocks = append(blocks, block{open: i, close: -1})
			cur = &blocks[len(blocks)-1]
		case eventClose:
			cur.close = i
			cur = nil
		case eventNewline:
			if cur != nil && levels == 2 && i+1 < len(src) {
				cur.items = append(cur.items, i+1)
			}
		}
	})
	if !shallowOK || len(blocks) == 0 {
		return nil, 0, 0, false
	}
	best := &blocks[0]
	for i := range blocks {
		if blocks[i].close-blocks[i].open > best.close-best.open {
			best = &blocks[i]
		}
	}
	if best.close < 0 || len(best.items) < 2 {
		return nil, 0, 0, false
	}
	first, last := best.items[0], lineStart(src, best.close)
	// The body must start on the line after the brace, and the closing
	// brace start its line.
	if lineEnd(src, best.open)+1 != first || best.items[len(best.items)-1] != last {
		return nil, 0, 0, false
	}
	for _, c := range src[last:best.close] {
		if c != ' ' && c != '\t' {
			return nil, 0, 0, false
		}
	}
	pieces := min(n, (last-first)/minChunk)
	// Cut at the first item line at or after each share. The first piece
	// also lexes the others' blanked lines (a newline token each, about a
	// quarter of an item line): it gets (5-n)/(3n+1) of the items, which
	// evens out 4*own + others = 4*each other's; the others share the
	// rest evenly.
	items := best.items[1 : len(best.items)-1]
	size := last - first
	share0 := size * max(5-pieces, 1) / (3*pieces + 1)
	j := 0
	for k := 1; k < pieces; k++ {
		want := first + share0 + (k-1)*(size-share0)/(pieces-1)
		for j < len(items) && items[j] < want {
			j++
		}
		if j == len(items) {
			break
		}
		if len(cuts) == 0 || items[j] > cuts[len(cuts)-1] {
			cuts = append(cuts, items[j])
		}
	}
	return cuts, best.open, last, len(cuts) > 0
}

// lineStart is the index of the start of the line holding src[i].
func lineStart(src []byte, i int) int {
	for i > 0 && src[i-1] != '\n' {
		i--
	}
	return i
}

// blank is a copy of src with src[from:to] blanked.
func blank(src []byte, from, to int) []byte {
	p := make([]byte, len(src))
	copy(p, src)
	blankInto(p, from, to)
	return p
}

// blankInto turns p[from:to] into spaces, keeping newlines, so that what
// follows keeps its line, column and byte.
func blankInto(p []byte, from, to int) {
	for i := from; i < to && i < len(p); i++ {
		if p[i] != '\n' {
			p[i] = ' '
		}
	}
}
