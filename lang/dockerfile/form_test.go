package dockerfile

import "testing"

// TestResolveDecls: the form's references to ARG declarations become the
// names Convert gives their variables; other bytes stay as they are.
func TestResolveDecls(t *testing.T) {
	f := &form{}
	x := f.declare(argDecl{Arg: "X", Global: true})
	y := f.declare(argDecl{Arg: "Y", Stage: "build", Default: "1"})
	_, names := f.variables()
	for _, tt := range []struct{ tmpl, want string }{
		{"plain", "plain"},
		{x + "-" + y, "${var.X}-${var.Y}"},
		{"a\xffb" + y, "a\xffb${var.Y}"},
		{"\xff9\xfe", "\xff9\xfe"},
	} {
		if got := resolveDecls(tt.tmpl, names); got != tt.want {
			t.Errorf("resolveDecls(%q) = %q; want %q", tt.tmpl, got, tt.want)
		}
	}
}
