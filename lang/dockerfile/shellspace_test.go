package dockerfile

import "testing"

func TestCollapseSpaces(t *testing.T) {
	tests := []struct{ in, want string }{
		{"apt-get update &&     apt-get install -y curl", "apt-get update && apt-get install -y curl"},
		{"a \t b", "a b"},
		{`echo "a    b"`, `echo "a    b"`},
		{`echo 'a    b'  c`, `echo 'a    b' c`},
		{`echo a\   b`, `echo a\  b`},
		{`echo "x \"  y"   z`, `echo "x \"  y" z`},
		{`echo $'a   b'   c`, `echo $'a   b' c`},
		{"make   # keep   this", "make # keep   this"},
		{"echo a#b   c", "echo a#b c"},
		{"trailing   ", "trailing"},
		{"two\nlines    kept", "two\nlines    kept"},
	}
	for _, tt := range tests {
		if got := collapseSpaces(tt.in); got != tt.want {
			t.Errorf("collapseSpaces(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
