package local

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/ir"
)

// seedFrom is a seed of files listed in ctxDir, as the compiler lists a
// named directory context.
func seedFrom(ctxDir string, files ...ir.CopyFile) *cacheSeed {
	return &cacheSeed{dir: ctxDir, files: files}
}

func TestCacheSeedCopiesModesOwnersAndLinks(t *testing.T) {
	ctxDir, root := t.TempDir(), t.TempDir()
	must(t, os.Mkdir(filepath.Join(ctxDir, "d"), 0o750))
	must(t, os.WriteFile(filepath.Join(ctxDir, "d/x"), []byte("x"), 0o640))
	must(t, os.Chown(filepath.Join(ctxDir, "d/x"), 1000, 1001))
	sd := seedFrom(ctxDir,
		ir.CopyFile{Src: "d", Dst: "/d", Mode: fs.ModeDir | 0o750},
		ir.CopyFile{Src: "d/x", Dst: "/d/x", Mode: 0o640},
		ir.CopyFile{Src: "l", Dst: "/deep/l", Mode: fs.ModeSymlink | 0o777, LinkTarget: "../d/x"},
	)
	if err := sd.copyTo(root); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		fi, _ := os.Lstat(p)
		st := fi.Sys().(*syscall.Stat_t)
		desc := fi.Mode().String()
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			desc += " -> " + target
		} else if fi.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			desc += fmt.Sprintf(" %s %d:%d", data, st.Uid, st.Gid)
		}
		got[strings.TrimPrefix(p, root)] = desc
		return nil
	})
	want := map[string]string{
		"/d":      "drwxr-x---",
		"/d/x":    "-rw-r----- x 1000:1001",
		"/deep":   "drwxr-xr-x",
		"/deep/l": "Lrwxrwxrwx -> ../d/x",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("seeded cache (-want +got):\n%s", diff)
	}
}

// A context that changed between its listing and the copy may have a
// symlink where the list has a directory: nothing is written through it,
// nor is its target's mode changed.
func TestCacheSeedRefusesToWriteThroughSymlinks(t *testing.T) {
	ctxDir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(ctxDir, "x"), []byte("x"), 0o644))
	for name, files := range map[string][]ir.CopyFile{
		"file below a symlink": {
			{Src: "a", Dst: "/a", Mode: fs.ModeSymlink | 0o777, LinkTarget: "OUTSIDE"},
			{Src: "x", Dst: "/a/x", Mode: 0o644},
		},
		"directory below a symlink": {
			{Src: "a", Dst: "/a", Mode: fs.ModeSymlink | 0o777, LinkTarget: "OUTSIDE"},
			{Src: "x", Dst: "/a/sub/x", Mode: 0o644},
		},
		"directory over a symlink": {
			{Src: "a", Dst: "/a", Mode: fs.ModeSymlink | 0o777, LinkTarget: "OUTSIDE"},
			{Src: "x", Dst: "/a", Mode: fs.ModeDir | 0o700},
		},
	} {
		t.Run(name, func(t *testing.T) {
			outside := t.TempDir()
			must(t, os.Chmod(outside, 0o755))
			files[0].LinkTarget = outside // the first is the symlink a
			err := seedFrom(ctxDir, files...).copyTo(t.TempDir())
			if err == nil {
				t.Error("copyTo succeeded; want it to refuse the entry below or over the symlink")
			} else if !strings.Contains(err.Error(), "refusing to") || !strings.Contains(err.Error(), " a: it is not a directory") {
				t.Errorf("copyTo: %v; want it to say it refuses, and where", err)
			}
			entries, _ := os.ReadDir(outside)
			if len(entries) != 0 {
				t.Errorf("copyTo wrote %v into the symlink's target", entries)
			}
			if fi, _ := os.Stat(outside); fi.Mode().Perm() != 0o755 {
				t.Errorf("the symlink's target has mode %v; want it unchanged, 0755", fi.Mode().Perm())
			}
		})
	}
}

// A listed file that became a symlink (to a host file outside the
// context) since the listing is neither hashed nor copied through it.
func TestCacheSeedReadsNoSourceThroughSymlinks(t *testing.T) {
	ctxDir, outside := t.TempDir(), t.TempDir()
	secret := filepath.Join(outside, "secret")
	must(t, os.WriteFile(secret, []byte("host secret\n"), 0o600))
	must(t, os.Symlink(secret, filepath.Join(ctxDir, "x")))
	must(t, os.Mkdir(filepath.Join(ctxDir, "d"), 0o755))
	must(t, os.Symlink("../../"+filepath.Base(outside)+"/secret", filepath.Join(ctxDir, "d/y")))
	for _, src := range []string{"x", "d/y"} {
		f := ir.CopyFile{Src: src, Dst: "/" + src, Mode: 0o644}
		if _, err := newCacheSeed(ir.Mount{Context: ctxDir, Files: []ir.CopyFile{f}}); err == nil {
			t.Errorf("newCacheSeed hashed %s through its symlink", src)
		}
		root := t.TempDir()
		if err := seedFrom(ctxDir, f).copyTo(root); err == nil {
			t.Errorf("copyTo copied %s through its symlink", src)
		}
		if data, err := os.ReadFile(filepath.Join(root, src)); err == nil {
			t.Errorf("the seeded cache holds %s = %q", src, data)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
