package lang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// nestingCases are inputs where a walk over bytes could take a string,
// comment or token for what it is not.
var nestingCases = []string{
	"x = [[[1]]]\n",
	"x = !!!-?-!true\n",
	"x = [1, -2, !3, [-4, -5], (-6)]\n",
	"x = {\n a = -1\n b = !c\n}\n",
	"x = (\n-1\n-2\n)\n",
	`x = "[[[(({{${"(((${"[[["}"}]]]"` + "\n",
	`x = "\"{{{\\" ${[[1]]} \" ${ {a = [-1]} }"` + "\n",
	`x = "$${[[[" "%%{((("` + "\n",
	`x = "$$${[1]}"` + "\n",
	`x = "${~ [[1]] ~}"` + "\n",
	`x = "%{if true}[[%{endif}"` + "\n",
	"# [[[(((\nx = 1 // {{{\n/* ((( \n [[[ */ y = [[2]]\n",
	"x = [1 # ]\n]\n",
	"x = [1, /* ] */ 2]\n",
	"x = <<EOT\n[[[${[[1]]}\nEOT\n",
	"x = <<-EOT\n  ((( \n  EOT\n",
	"x = a-b-c-d-e\ny = 1e-5 - 2E-6\nz = a != b\n",
	"x = \"a\nb [[[ \"\n",
	"x = \"unterminated [[[\n",
	"x = [[[\n",
	"x = ]]] [[[ \n",
	"x = (]\n",
	"x = [}\n",
	"x = {)\n",
	"x = \"${ ( }\" ( ]\n",
	"x = \"${ [ ~}\"\n",
	"x = ${ [[ }\n",
	"x = %{ [[ }\n",
	"a {\n b {\n  c = [{d = -(-(1))}]\n }\n}\n",
	"x = \"\\\n[[\"\n",
	"x = \"\\\"${[-1]}\\\\\"\n",
	"x = '[[[' \"]]]\"\n",
	"\xef\xbb\xbfx = [[1]]\n",
	"x = \"\xff[[\" \xc3\xa9 [[1]]\n",
	"x = 1 ? 2 : 3 ? 4 : -5\r\ny = (-1)\r\n",
	"/* unterminated [[[",
	"x = \"${\"${\"${-1}\"}\"}\"\n",
}

// TestShallowNeverUnderestimates: whenever shallow says a file nests at
// most limit levels, checkNesting on the lexer's tokens agrees, at every
// limit from 0 up.
func TestShallowNeverUnderestimates(t *testing.T) {
	srcs := nestingCases
	files, _ := filepath.Glob("testdata/*/*.image.hcl")
	more, _ := filepath.Glob("../examples/*/*.image.hcl")
	for _, f := range append(files, more...) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, string(src))
	}
	for _, src := range srcs {
		for limit := 0; limit <= 12; limit++ {
			checkShallow(t, []byte(src), limit)
		}
	}
}

// TestShallowTellsTypicalFiles: the walk does tell for the files people
// write (else every file would be lexed twice), and gives up where it
// should.
func TestShallowTellsTypicalFiles(t *testing.T) {
	var b strings.Builder
	b.WriteString("image \"big\" {\n  from = \"scratch\"\n")
	for i := 0; i < 1000; i++ {
		b.WriteString("  run {\n    sh = \"echo step ${i} >> /log # [ (\"\n  }\n  copy {\n    src  = \"src/f.txt\"\n    dest = \"/data/\"\n  }\n")
	}
	b.WriteString("}\n")
	tell := map[string]string{
		"1,000 steps": b.String(),
		"locals":      "locals {\n  l = [for x in [1, -2] : x if !false]\n  m = { a = \"${1 + 2}\" }\n}\n",
	}
	for name, src := range tell {
		if !shallow([]byte(src), MaxNesting) {
			t.Errorf("%s: shallow could not tell", name)
		}
	}
	giveUp := map[string]string{
		"too deep":  "x = " + strings.Repeat("[", MaxNesting+1) + strings.Repeat("]", MaxNesting+1) + "\n",
		"heredoc":   "x = <<EOT\nhi\nEOT\n",
		"directive": "x = \"%{if true}a%{endif}\"\n",
		"unmatched": "x = [)\n",
		"unclosed":  "x = [\n",
	}
	for name, src := range giveUp {
		if shallow([]byte(src), MaxNesting) {
			t.Errorf("%s: shallow told; want it to give up", name)
		}
	}
}

// FuzzShallow: no input makes shallow say a file is shallower than
// checkNesting finds it.
func FuzzShallow(f *testing.F) {
	for _, src := range nestingCases {
		f.Add([]byte(src), uint8(2))
	}
	f.Fuzz(func(t *testing.T, src []byte, limit uint8) {
		checkShallow(t, src, int(limit%16))
	})
}

func checkShallow(t *testing.T, src []byte, limit int) {
	t.Helper()
	if !shallow(src, limit) {
		return
	}
	tokens, _ := hclsyntax.LexConfig(src, "f.image.hcl", hcl.InitialPos)
	if diags := checkNesting(tokens, "file", limit); diags.HasErrors() {
		t.Fatalf("shallow(%q, %d) is true, but checkNesting finds it deeper: %v", src, limit, diags)
	}
}
