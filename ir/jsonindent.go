package ir

import "io"

// indentJSON appends to dst the compact JSON src (as json.Marshal makes
// it: no space outside strings) indented as json.Indent(dst, src, "",
// "  ") would, in one pass that only tracks strings and brackets:
// json.Indent runs its full scanner over every byte, which took most of
// `imgc plan --format json`'s time on a plan of 1,000 layers.
func indentJSON(dst, src []byte) []byte {
	dst, _ = indentJSONTo(nil, dst, src)
	return dst
}

// indentJSONTo is indentJSON writing to w (when not nil) each time dst
// holds flushAt bytes, and reusing it: a large plan's indented JSON (1 MB
// for 1,000 steps) is then never whole in memory.
func indentJSONTo(w io.Writer, dst, src []byte) ([]byte, error) {
	const flushAt = 32 << 10
	depth := 0
	newline := func() {
		dst = append(dst, '\n')
		for range depth {
			dst = append(dst, ' ', ' ')
		}
	}
	for i := 0; i < len(src); i++ {
		if w != nil && len(dst) >= flushAt {
			if _, err := w.Write(dst); err != nil {
				return dst, err
			}
			dst = dst[:0]
		}
		c := src[i]
		switch c {
		case '"':
			// Copy the string whole, escapes included.
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(src) {
				j = len(src) - 1
			}
			dst = append(dst, src[i:j+1]...)
			i = j
		case '{', '[':
			dst = append(dst, c)
			if i+1 < len(src) && (src[i+1] == '}' || src[i+1] == ']') {
				// An empty object or array stays on its line.
				dst = append(dst, src[i+1])
				i++
				continue
			}
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			newline()
		case ':':
			dst = append(dst, ':', ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst, nil
}
