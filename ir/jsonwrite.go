package ir

import (
	"io"
	"slices"
	"unicode/utf8"
)

// The plan's JSON is written by hand, straight into 32 KiB pieces,
// exactly as json.MarshalIndent(plan, "", "  ") writes it
// (FuzzPlanJSON holds the two to the same bytes; the struct tags stay
// the schema's reference): the reflection encoder and a second pass to
// indent took most of what `imgc plan --format json` adds to the text
// output, for 1 MB of JSON from 1,000 layers.

// jsonWriter writes indented JSON to w in pieces of about jsonFlushAt
// bytes.
type jsonWriter struct {
	w     io.Writer
	buf   []byte
	depth int
	// first is true right after an object or array opens.
	first bool
	err   error
}

const jsonFlushAt = 32 << 10

func (j *jsonWriter) newline() {
	j.buf = append(j.buf, '\n')
	for range j.depth {
		j.buf = append(j.buf, ' ', ' ')
	}
	if len(j.buf) >= jsonFlushAt && j.err == nil {
		_, j.err = j.w.Write(j.buf)
		j.buf = j.buf[:0]
	}
}

// open starts an object or array (c is '{' or '[').
func (j *jsonWriter) open(c byte) {
	j.buf = append(j.buf, c)
	j.depth++
	j.first = true
}

// close ends it; an empty one stays on its line, as json.Indent leaves it.
func (j *jsonWriter) close(c byte) {
	j.depth--
	if !j.first {
		j.newline()
	}
	j.buf = append(j.buf, c)
	j.first = false
}

// elem starts the next element of an array.
func (j *jsonWriter) elem() {
	if !j.first {
		j.buf = append(j.buf, ',')
	}
	j.first = false
	j.newline()
}

// key starts the next member of an object.
func (j *jsonWriter) key(k string) {
	j.elem()
	j.buf = appendJSONString(j.buf, k)
	j.buf = append(j.buf, ':', ' ')
}

func (j *jsonWriter) str(k, v string) {
	j.key(k)
	j.buf = appendJSONString(j.buf, v)
}

func (j *jsonWriter) bool(k string, v bool) {
	j.key(k)
	if v {
		j.buf = append(j.buf, "true"...)
	} else {
		j.buf = append(j.buf, "false"...)
	}
}

// strings writes a list of strings (null when nil, as encoding/json).
func (j *jsonWriter) strings(k string, vs []string) {
	j.key(k)
	if vs == nil {
		j.buf = append(j.buf, "null"...)
		return
	}
	j.open('[')
	for _, v := range vs {
		j.elem()
		j.buf = appendJSONString(j.buf, v)
	}
	j.close(']')
}

// list writes the slice of n items (null when nil), each by item.
func list[T any](j *jsonWriter, k string, items []T, item func(*T)) {
	j.key(k)
	if items == nil {
		j.buf = append(j.buf, "null"...)
		return
	}
	j.open('[')
	for i := range items {
		j.elem()
		j.open('{')
		item(&items[i])
		j.close('}')
	}
	j.close(']')
}

func (j *jsonWriter) plan(p *jsonPlan) {
	j.open('{')
	j.str("project", p.Project)
	list(j, "targets", p.Targets, j.target)
	list(j, "optimizations", p.Optimizations, j.optimization)
	j.close('}')
}

func (j *jsonWriter) target(t *jsonTarget) {
	j.str("name", t.Name)
	j.str("kind", string(t.Kind))
	j.str("from", t.From)
	j.str("base_key", t.BaseKey)
	j.str("platform", t.Platform)
	j.bool("output", t.Output)
	if len(t.Tags) > 0 {
		j.strings("tags", t.Tags)
	}
	if len(t.DependsOn) > 0 {
		j.strings("depends_on", t.DependsOn)
	}
	j.str("source", t.Source)
	list(j, "layers", t.Layers, j.layer)
}

func (j *jsonWriter) layer(l *jsonLayer) {
	j.str("name", l.Name)
	j.str("cache_key", l.CacheKey)
	j.str("parent", l.Parent)
	j.str("cache", l.Cache)
	j.str("reason", l.Reason)
	j.str("source", l.Source)
	j.str("created_by", l.CreatedBy)
	if l.NoCache {
		j.bool("no_cache", true)
	}
	if l.Skipped {
		j.bool("skipped", true)
	}
	if l.Empty {
		j.bool("empty", true)
	}
	if l.From != "" {
		j.str("from", l.From)
	}
	list(j, "steps", l.Steps, j.step)
	list(j, "inputs", l.Inputs, func(in *KeyInput) {
		j.str("name", in.Name)
		j.str("value", in.Value)
	})
	if len(l.Vars) > 0 {
		j.key("vars")
		j.open('{')
		keys := make([]string, 0, len(l.Vars))
		for k := range l.Vars {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			j.str(k, l.Vars[k])
		}
		j.close('}')
	}
	if l.KeyPending != "" {
		j.str("key_pending", l.KeyPending)
	}
}

func (j *jsonWriter) step(s *jsonStep) {
	j.str("kind", string(s.Kind))
	j.str("summary", s.Summary)
	j.str("source", s.Source)
	if s.Definition != "" {
		j.str("definition", s.Definition)
	}
}

func (j *jsonWriter) optimization(o *jsonOptimization) {
	j.str("pass", o.Pass)
	j.str("detail", o.Detail)
	j.str("source", o.Source)
	if len(o.Sources) > 0 {
		j.strings("sources", o.Sources)
	}
	j.bool("applied", o.Applied)
}

// appendJSONString appends s quoted as encoding/json quotes it: <, > and
// & escaped for HTML, U+2028 and U+2029 escaped, invalid UTF-8 replaced
// by U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
