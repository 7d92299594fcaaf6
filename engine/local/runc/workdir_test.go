package runc

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestMkdirWorkdirOwnsWhatItCreates(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: chown needs root")
	}
	rootfs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(rootfs, "srv"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mkdirWorkdir(rootfs, "/srv/app/data", user{uid: 1000, gid: 2000}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string][2]uint32{
		"srv":          {0, 0},
		"srv/app":      {1000, 2000},
		"srv/app/data": {1000, 2000},
	} {
		fi, err := os.Stat(filepath.Join(rootfs, p))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if got := [2]uint32{st.Uid, st.Gid}; got != want || fi.Mode().Perm() != 0o755 {
			t.Errorf("/%s: owner %v mode %v, want %v 0755", p, got, fi.Mode().Perm(), want)
		}
	}
	// An existing directory keeps its owner.
	if err := mkdirWorkdir(rootfs, "/srv", user{uid: 5, gid: 5}); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(rootfs, "srv"))
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 {
		t.Errorf("/srv changed owner to %d", st.Uid)
	}
}
