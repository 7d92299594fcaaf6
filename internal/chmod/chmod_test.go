package chmod

import (
	"io/fs"
	"strings"
	"testing"
)

func TestChmod(t *testing.T) {
	for _, tc := range []struct {
		chmod string
		from  fs.FileMode
		want  fs.FileMode
	}{
		{"0755", 0o600, 0o755},
		{"4755", 0o600, fs.ModeSetuid | 0o755},
		{"0640", fs.ModeDir | 0o755, fs.ModeDir | 0o640},
		{"u=rwx,g=rx,o=", 0o644, 0o750},
		{"a+x", 0o644, 0o755},
		{"go-w", 0o666, 0o644},
		{"+x", 0o600, 0o711},
		{"u+s", 0o755, fs.ModeSetuid | 0o755},
		{"a+X", fs.ModeDir | 0o644, fs.ModeDir | 0o755},
		{"a+X", 0o644, 0o644},
	} {
		c, err := Parse(tc.chmod)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.chmod, err)
			continue
		}
		if got := c.Apply(tc.from); got != tc.want {
			t.Errorf("chmod %s of %v: %v, want %v", tc.chmod, tc.from, got, tc.want)
		}
	}
	for _, bad := range []string{"7778", "17777", "u=rwq", "rwx", "0o755"} {
		if _, err := Parse(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("Parse(%q) = %v, want an error naming it", bad, err)
		}
	}
	if n, ok := mustChmod(t, "2750").Octal(); !ok || n != 0o2750 {
		t.Errorf("Octal of 2750: %o %v", n, ok)
	}
	if _, ok := mustChmod(t, "a+x").Octal(); ok {
		t.Error("a+x reads as octal")
	}
}

func mustChmod(t *testing.T, s string) *Chmod {
	c, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
