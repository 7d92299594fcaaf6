package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// bigConfig is an image of n steps of every shape, between other
// top-level blocks, with lines ending in eol.
func bigConfig(n int, eol string) string {
	var b strings.Builder
	b.WriteString("# a comment\nvariable \"v\" {\n  default = \"x\"\n}\n\nimage \"big\" {\n  from = \"scratch\"\n")
	for i := range n {
		switch i % 6 {
		case 0:
			fmt.Fprintf(&b, "  run {\n    sh = \"echo step %d >> /log\"\n  }\n", i)
		case 1:
			fmt.Fprintf(&b, "  copy {\n    src  = \"src/f%d.txt\"   # é ü\n    dest = \"/data/f%d.txt\"\n  }\n", i, i)
		case 2:
			fmt.Fprintf(&b, "  // step %d\n  run { sh = \"${var.v} [ { ( é\" }\n\n", i)
		case 3:
			fmt.Fprintf(&b, "  env%d = {\n    A = \"%d\"\n  }\n", i, i)
		case 4:
			fmt.Fprintf(&b, "  run {\n    exec = [\n      \"a\", \"b%d\",\n    ]\n    /* multi\n       line */\n  }\n", i)
		case 5:
			fmt.Fprintf(&b, "  workdir%d = -1 + (2 *\n    3)\n", i)
		}
	}
	b.WriteString("}\n\nlocals {\n  l = [1, 2]\n}\n")
	return strings.ReplaceAll(b.String(), "\n", eol)
}

// TestParseSplitMatchesWholeParse: a file parsed in pieces is the file
// parsed whole, node for node and position for position.
func TestParseSplitMatchesWholeParse(t *testing.T) {
	srcs := map[string]string{
		"big":       bigConfig(1000, "\n"),
		"big CRLF":  bigConfig(300, "\r\n"),
		"two items": "image \"a\" {\n  from = \"scratch\"\n  run { sh = \"x\" }\n}\n",
	}
	split := map[string]bool{"big": true, "big CRLF": true}
	files, _ := filepath.Glob("testdata/*/*.image.hcl")
	more, _ := filepath.Glob("../examples/*/*.image.hcl")
	for _, f := range append(files, more...) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		srcs[f] = string(src)
	}
	for name, src := range srcs {
		for n := 2; n <= 4; n++ {
			ok := checkSplit(t, []byte(src), n, 1)
			if split[name] && !ok {
				t.Errorf("%s: not split in %d", name, n)
			}
		}
	}
	// The command's own threshold splits a 1,000-step image.
	if _, ok := parseSplit([]byte(srcs["big"]), "f.image.hcl", 2, splitChunkSize); !ok {
		t.Error("a 1,000-step image is not split at splitChunkSize")
	}
}

// TestParseSplitGivesUp: what only a whole parse reports is left to it.
func TestParseSplitGivesUp(t *testing.T) {
	items := strings.Repeat("  run { sh = \"x\" }\n", 50)
	tests := map[string]string{
		"argument set twice":   "image \"a\" {\n  from = \"a\"\n" + items + "  from = \"b\"\n}\n",
		"syntax error":         "image \"a\" {\n" + items + "  run { sh = }\n" + items + "}\n",
		"unclosed":             "image \"a\" {\n" + items,
		"heredoc":              "image \"a\" {\n" + items + "  run {\n    sh = <<EOT\nx\nEOT\n  }\n" + items + "}\n",
		"brace after an item":  "image \"a\" {\n" + items + "  run { sh = \"x\" } }\n",
		"comment after brace":  "image \"a\" { # c\n" + items + "}\n",
		"object, not a block":  "x = {\n" + strings.Repeat("  a = 1\n", 50) + "}\n",
		"byte order mark":      "\xef\xbb\xbfimage \"a\" {\n" + items + "}\n",
		"small":                "image \"a\" {\n  run { sh = \"x\" }\n}\n",
		"nothing but comments": "# a\n# b\n",
	}
	for name, src := range tests {
		if _, ok := parseSplit([]byte(src), "f.image.hcl", 2, 1); ok {
			t.Errorf("%s: split; want it parsed whole", name)
		}
		checkSplit(t, []byte(src), 3, 1)
	}
}

// FuzzParseSplit: whenever parseSplit joins pieces, parsing the input
// whole gives no diagnostic and the same file.
func FuzzParseSplit(f *testing.F) {
	f.Add([]byte(bigConfig(12, "\n")), uint8(2))
	f.Add([]byte(bigConfig(7, "\r\n")), uint8(3))
	f.Add([]byte("image \"a\" {\n  a = 1\n  b = 2\n  a = 3\n}\n"), uint8(2))
	f.Fuzz(func(t *testing.T, src []byte, n uint8) {
		checkSplit(t, src, 2+int(n%3), 1)
	})
}

// checkSplit parses src in up to n pieces of at least minChunk bytes and
// whole, and fails unless a split parse is the whole one; it tells
// whether src was split.
func checkSplit(t *testing.T, src []byte, n, minChunk int) bool {
	t.Helper()
	got, ok := parseSplit(src, "f.image.hcl", n, minChunk)
	if !ok {
		return false
	}
	want, diags := hclsyntax.ParseConfig(src, "f.image.hcl", hcl.InitialPos)
	if len(diags) > 0 {
		t.Fatalf("parseSplit(%q, %d) joined pieces, but the whole file has diagnostics: %v", src, n, diags)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseSplit(%q, %d) differs from parsing the file whole", src, n)
	}
	return true
}

// BenchmarkParseSplit compares parsing a 1,000-step image whole and in
// pieces (wall time: the pieces only pay where a core is free).
func BenchmarkParseSplit(b *testing.B) {
	src := []byte(bigConfig(1000, "\n"))
	b.Run("whole", func(b *testing.B) {
		for b.Loop() {
			hclsyntax.ParseConfig(src, "f.image.hcl", hcl.InitialPos)
		}
	})
	b.Run("pieces", func(b *testing.B) {
		for b.Loop() {
			if _, ok := parseSplit(src, "f.image.hcl", 2, splitChunkSize); !ok {
				b.Fatal("not split")
			}
		}
	})
}
