package main

import (
	"testing"

	"github.com/alecthomas/kong"
	"github.com/google/go-cmp/cmp"
)

// TestRunArgs: everything after the image name reaches the container,
// whatever imgc's own flags before it take as values.
func TestRunArgs(t *testing.T) {
	var c cli
	p, err := kong.New(&c, kong.Vars{"passes": optionalPasses(), "version": "test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want []string }{
		{[]string{"run", "img"}, []string{"run", "img", "--"}},
		{[]string{"run", "--entrypoint", "wget", "img", "-qO-", "http://x"}, []string{"run", "--entrypoint", "wget", "img", "--", "-qO-", "http://x"}},
		{[]string{"run", "-e", "A=1", "-it", "img", "-e", "B"}, []string{"run", "-e", "A=1", "-it", "img", "--", "-e", "B"}},
		{[]string{"run", "-eA=1", "--network=none", "img", "ls"}, []string{"run", "-eA=1", "--network=none", "img", "--", "ls"}},
		{[]string{"run", "--insecure-registry", "reg:5000", "-w", "/tmp", "img", "pwd"}, []string{"run", "--insecure-registry", "reg:5000", "-w", "/tmp", "img", "--", "pwd"}},
		{[]string{"run", "--rm", "img", "--", "x"}, []string{"run", "--rm", "img", "--", "--", "x"}},
		{[]string{"run", "--", "img", "x"}, []string{"run", "--", "img", "x"}},
		{[]string{"run", "--help"}, []string{"run", "--help"}},
		{[]string{"build", "-t", "x", "."}, []string{"build", "-t", "x", "."}},
	} {
		if diff := cmp.Diff(tc.want, runArgs(p, tc.in)); diff != "" {
			t.Errorf("runArgs(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}
