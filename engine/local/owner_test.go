package local

import (
	"os"
	"path/filepath"
	"testing"
)

// COPY --chown=NAME takes the user's primary group; a bare number is both
// ids (what BuildKit and buildah give).
func TestResolveOwnerGroups(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\napp:x:1500:1600::/home/app:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\ngrp:x:1600:\nother:x:1700:\n"), 0o644)
	for chown, want := range map[string][2]int{
		"app":       {1500, 1600},
		"app:other": {1500, 1700},
		"app:1800":  {1500, 1800},
		"1500":      {1500, 1500},
		"1500:grp":  {1500, 1600},
		"":          {0, 0},
	} {
		uid, gid, err := resolveOwner(root, chown)
		if err != nil {
			t.Errorf("resolveOwner(%q): %v", chown, err)
			continue
		}
		if got := [2]int{uid, gid}; got != want {
			t.Errorf("resolveOwner(%q) = %v, want %v", chown, got, want)
		}
	}
}

// An id above 32 bits is refused, not wrapped (2^40 became 0, root).
func TestResolveOwnerLargeID(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\n"), 0o644)
	for _, chown := range []string{"1099511627776", "1:1099511627776", "4294967296:0"} {
		if uid, gid, err := resolveOwner(root, chown); err == nil {
			t.Errorf("resolveOwner(%q) = %d, %d; want an error", chown, uid, gid)
		}
	}
}
