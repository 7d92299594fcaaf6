package model

import "testing"

func TestDidYouMean(t *testing.T) {
	candidates := []string{"build", "base", "runtime"}
	for _, tc := range []struct{ name, want string }{
		{"buld", "build"},
		{"biuld", "build"},
		{"bsae", "base"},
		{"runtim", "runtime"},
		{"build", "build"},
		{"something", ""},
		{"", ""},
	} {
		if got := DidYouMean(tc.name, candidates); got != tc.want {
			t.Errorf("DidYouMean(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := DidYouMean("x", nil); got != "" {
		t.Errorf("DidYouMean without candidates = %q", got)
	}
}
