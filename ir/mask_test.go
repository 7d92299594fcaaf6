package ir

import "testing"

func TestMasker(t *testing.T) {
	mask := Masker([]string{"abc", "", "abcdef"})
	got := mask("x abcdef y abc z")
	want := "x " + SensitiveToken("abcdef") + " y " + SensitiveToken("abc") + " z"
	if got != want {
		t.Errorf("mask = %q, want %q (the longer value replaced whole)", got, want)
	}
	if SensitiveToken("abc") == SensitiveToken("abd") || len(SensitiveToken("abc")) != len("(sensitive:)")+12 {
		t.Errorf("tokens %q %q: want 12 hex digits that differ by value", SensitiveToken("abc"), SensitiveToken("abd"))
	}
	if got := Masker(nil)("text"); got != "text" {
		t.Errorf("no values: %q", got)
	}
}
