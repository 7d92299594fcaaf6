package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFollowInRoot(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"etc", "usr/lib", "opt"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/real"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"dangling":          "/nowhere",
		"etc/rel-dangling":  "missing/target",
		"file-link":         "/etc/real",
		"lib":               "usr/lib",
		"chain":             "/lib",
		"escape":            "../../../../etc/real",
		"loop-a":            "/loop-b",
		"loop-b":            "/loop-a",
		"opt/into-dangling": "/dangling/below",
		"up":                "lib/../etc",
	}
	for l, target := range links {
		if err := os.Symlink(target, filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ p, want string }{
		{"/dangling", "/nowhere"},
		{"/etc/rel-dangling", "/etc/missing/target"},
		{"/file-link", "/etc/real"},
		{"/chain/x.so", "/usr/lib/x.so"},
		{"/lib/../etc", "/etc"},  // the path is cleaned first, as Docker cleans a destination
		{"/up", "/usr/etc"},      // a target's ".." after the symlink before it, as the kernel resolves it
		{"/escape", "/etc/real"}, // ".." stops at the root
		{"/opt/into-dangling", "/nowhere/below"},
		{"/new/dir/file", "/new/dir/file"},
		{"/", "/"},
	} {
		if got, err := followInRoot(root, c.p); got != c.want || err != nil {
			t.Errorf("followInRoot(%q) = %q, %v, want %q", c.p, got, err, c.want)
		}
	}
	if got, err := followInRoot(root, "/loop-a/x"); err == nil || !strings.Contains(err.Error(), "too many levels of symbolic links") {
		t.Errorf("followInRoot through a loop = %q, %v, want ELOOP's error", got, err)
	}
	if got, err := followInRoot("", "/a/../b"); got != "/b" || err != nil {
		t.Errorf(`followInRoot without a root = %q, %v, want "/b"`, got, err)
	}
}
