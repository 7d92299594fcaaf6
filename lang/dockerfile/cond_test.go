package dockerfile

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCondTemplate: modifiers on an ARG become HCL conditionals, checked
// against BuildKit's lexer; what the parser does not know, or what does
// not check, is no template ("" with ok), and a word without modifiers
// is left to the sentinel path (not ok).
func TestCondTemplate(t *testing.T) {
	var env envList
	env = env.set(envEntry{Name: "V", Value: "1.2", Tmpl: "${var.V}"})
	env = env.set(envEntry{Name: "N", Tmpl: "${var.N}", Null: true})
	env = env.set(envEntry{Name: "C", Value: "const", Tmpl: "const"})
	lex, _ := newLexers('\\')
	tests := []struct {
		word, want string
		ok         bool
	}{
		{"${V:-d}", `${var.V == "" ? "d" : var.V}`, true},
		{"x${N:+y$V}z", `x${var.N == null || var.N == "" ? "" : "y${var.V}"}z`, true},
		{"${N-d}", `${var.N != null ? var.N : ""}`, true},
		{"${V+set}", "set", true},
		{`"${V:-a b}"`, `${var.V == "" ? "a b" : var.V}`, true},
		{"'${V:-x}'", "", false},
		{"${C:-d}", "", false},
		{"${V%%.*}", "", true},
		{"${V:?no}", "", true},
		{"$V-${V}", "", false},
		{"${V:-${", "", true},
		{"${", "", false},
		{"\\${V:-x}", "", false},
	}
	for _, tt := range tests {
		got, ok := condTemplate(lex, '\\', tt.word, env)
		if diff := cmp.Diff([]any{tt.want, tt.ok}, []any{got, ok}); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.word, diff)
		}
	}
}

func FuzzCondTemplate(f *testing.F) {
	for _, s := range []string{"${V:-d}", "x${N:+y$V}z", `"${V:-a b}"`, "${V%%.*}", "'$V'", "\\$V"} {
		f.Add(s)
	}
	var env envList
	env = env.set(envEntry{Name: "V", Value: "1.2", Tmpl: "${var.V}"})
	env = env.set(envEntry{Name: "N", Tmpl: "${var.N}", Null: true})
	lex, _ := newLexers('\\')
	f.Fuzz(func(t *testing.T, word string) {
		condTemplate(lex, '\\', word, env)
	})
}
