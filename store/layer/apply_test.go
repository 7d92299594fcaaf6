package layer_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/store/layer"
)

func fileDigest(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		return "missing: " + err.Error()
	}
	return fmt.Sprintf("%x", sha256.Sum256(data))
}

func TestApplyRefusesEscapes(t *testing.T) {
	requireRoot(t)
	passwd := fileDigest(t, "/etc/passwd")
	// A name that must not appear anywhere on the host.
	marker := fmt.Sprintf("imgc-escape-%d", time.Now().UnixNano())
	hostMarker := filepath.Join(os.TempDir(), marker)
	charDev := file{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3}}

	for _, tc := range []struct {
		name  string
		files []file
		want  string // in the error
	}{
		{"dot dot", []file{reg("../x", "evil")}, `"../x": path contains ".."`},
		{"dot dot inside", []file{reg("a/../../x", "evil")}, `path contains ".."`},
		{"absolute", []file{reg("/tmp/"+marker, "evil")}, "absolute path"},
		{"symlink parent", []file{symlink("evil", "/"), reg("evil/etc/passwd", "root::0:0::/:/bin/sh\n")}, "symbolic link"},
		{"symlink parent to tmp", []file{symlink("evil", os.TempDir()), reg("evil/"+marker, "evil")}, "symbolic link"},
		{"relative symlink parent", []file{dir("a"), symlink("a/up", "../.."), reg("a/up/"+marker, "evil")}, "symbolic link"},
		{"whiteout through symlink", []file{symlink("evil", "/etc"), reg("evil/.wh.passwd", "")}, "symbolic link"},
		{"opaque through symlink", []file{symlink("evil", "/etc"), reg("evil/.wh..wh..opq", "")}, "symbolic link"},
		{"hard link out", []file{hardlink("x", "../../etc/passwd")}, `path contains ".."`},
		{"hard link absolute", []file{hardlink("x", "/etc/passwd")}, "absolute path"},
		{"hard link through symlink", []file{symlink("evil", "/"), hardlink("x", "evil/etc/passwd")}, "symbolic link"},
		{"hard link to missing", []file{hardlink("x", "etc/passwd")}, "no such file"},
		{"char device", []file{charDev}, `"dev/null": refusing device node`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent, d := sandbox(t)
			err := layer.Apply(makeTar(t, tc.files...), d, layer.ApplyOptions{})
			if !errContains(err, tc.want) {
				t.Errorf("Apply error = %v, want one containing %q", err, tc.want)
			}
			checkNothingOutside(t, parent)
			if got := fileDigest(t, "/etc/passwd"); got != passwd {
				t.Fatal("/etc/passwd changed")
			}
			if _, err := os.Lstat(hostMarker); err == nil {
				os.Remove(hostMarker)
				t.Errorf("%s was written", hostMarker)
			}
		})
	}
}

func TestApplyDoesNotWriteThroughFinalSymlink(t *testing.T) {
	requireRoot(t)
	passwd := fileDigest(t, "/etc/passwd")
	parent, d := sandbox(t)
	files := []file{symlink("f", "/etc/passwd"), reg("f", "replaced"), symlink("d", "/etc"), dir("d")}
	if err := layer.Apply(makeTar(t, files...), d, layer.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	checkNothingOutside(t, parent)
	if fileDigest(t, "/etc/passwd") != passwd {
		t.Fatal("/etc/passwd changed")
	}
	if data, err := os.ReadFile(filepath.Join(d, "f")); err != nil || string(data) != "replaced" {
		t.Errorf("f = %q, %v; want the symlink replaced by a file", data, err)
	}
	if st := lstat(t, filepath.Join(d, "d")); st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Errorf("d has mode %o, want a directory replacing the symlink", st.Mode)
	}
}

func TestApplyDevicesWhenAllowed(t *testing.T) {
	requireRoot(t)
	_, d := sandbox(t)
	files := []file{dir("dev"), {hdr: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3}}}
	if err := layer.Apply(makeTar(t, files...), d, layer.ApplyOptions{AllowDevices: true}); err != nil {
		t.Fatal(err)
	}
	st := lstat(t, filepath.Join(d, "dev/null"))
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 || st.Mode&0o777 != 0o666 {
		t.Errorf("dev/null: mode %o rdev %d:%d", st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
}

func TestApplyMetadata(t *testing.T) {
	requireRoot(t)
	_, d := sandbox(t)
	mtime := time.Unix(1500000000, 0)
	suid := reg("bin/su", "su")
	suid.hdr.Mode, suid.hdr.Uid, suid.hdr.Gid, suid.hdr.ModTime = 0o4755, 1000, 1001, mtime
	suid.hdr.PAXRecords = map[string]string{
		"SCHILY.xattr.security.capability":    capNetRaw,
		"SCHILY.xattr.trusted.overlay.opaque": "y",
		"SCHILY.xattr.user.x":                 "1",
	}
	bin := dir("bin")
	bin.hdr.Mode, bin.hdr.ModTime = 0o1777, mtime
	link := symlink("bin/sh", "busybox")
	link.hdr.Uid, link.hdr.ModTime = 7, mtime
	// Implicit parents are created; the child's header comes first.
	files := []file{reg("deep/er/f", "x"), bin, suid, link, hardlink("bin/su2", "bin/su")}
	if err := layer.Apply(makeTar(t, files...), d, layer.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	st := lstat(t, filepath.Join(d, "bin/su"))
	got := fmt.Sprintf("%o %d:%d %d nlink=%d", st.Mode&0o7777, st.Uid, st.Gid, st.Mtim.Sec, st.Nlink)
	if want := fmt.Sprintf("4755 1000:1001 %d nlink=2", mtime.Unix()); got != want {
		t.Errorf("bin/su: %s, want %s", got, want)
	}
	if x := xattr(filepath.Join(d, "bin/su"), "security.capability"); x != capNetRaw {
		t.Errorf("security.capability = %q", x)
	}
	if x := xattr(filepath.Join(d, "bin/su"), "trusted.overlay.opaque"); x != "" {
		t.Errorf("trusted.overlay.opaque was applied: %q", x)
	}
	if st := lstat(t, filepath.Join(d, "bin")); st.Mode&0o7777 != 0o1777 || st.Mtim.Sec != mtime.Unix() {
		t.Errorf("bin: mode %o mtime %d, want 1777 %d (set after its children)", st.Mode&0o7777, st.Mtim.Sec, mtime.Unix())
	}
	if st := lstat(t, filepath.Join(d, "bin/sh")); st.Uid != 7 || st.Mtim.Sec != mtime.Unix() {
		t.Errorf("bin/sh symlink: uid %d mtime %d", st.Uid, st.Mtim.Sec)
	}
	if st := lstat(t, filepath.Join(d, "deep/er")); st.Mode&0o777 != 0o755 {
		t.Errorf("implicit parent mode %o", st.Mode&0o777)
	}
}

func TestApplyToRoot(t *testing.T) {
	requireRoot(t)
	parent, d := sandbox(t)
	for _, p := range []string{"etc/old", "etc/sub/old", "bin/ls", "bin/cat", "usr/lib/keep"} {
		writeFile(t, filepath.Join(d, p), "old")
	}
	if err := os.Symlink("usr/lib", filepath.Join(d, "lib")); err != nil {
		t.Fatal(err)
	}
	marker := fmt.Sprintf("imgc-escape-%d", time.Now().UnixNano())
	files := []file{
		dir("bin"), reg("bin/.wh.ls", ""),
		reg("gone/.wh.x", ""), // whiteout in a missing dir: nothing to do
		dir("etc"), reg("etc/new", "new"), dir("etc/sub"), reg("etc/sub/new", "new"), reg("etc/.wh..wh..opq", ""),
		reg("lib/added", "via usr-merge symlink"),
		symlink("evil", "/"), reg("evil/"+marker, "stays inside"),
	}
	if err := layer.ApplyToRoot(makeTar(t, files...), d, layer.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	checkNothingOutside(t, parent)
	if _, err := os.Lstat(filepath.Join("/", marker)); err == nil {
		os.Remove(filepath.Join("/", marker))
		t.Fatalf("/%s was written on the host", marker)
	}
	var got []string
	filepath.Walk(d, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(d, p)
		if !fi.IsDir() {
			got = append(got, rel)
		}
		return nil
	})
	sort.Strings(got)
	want := []string{"bin/cat", "etc/new", "etc/sub/new", "evil", "lib", marker, "usr/lib/added", "usr/lib/keep"}
	sort.Strings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

func TestApplyRejectsBadTar(t *testing.T) {
	_, d := sandbox(t)
	data := makeTar(t, reg("a", "0123456789")).Bytes()
	if err := layer.Apply(bytes.NewReader(data[:515]), d, layer.ApplyOptions{}); err == nil {
		t.Error("truncated tar: no error")
	}
	if err := layer.Apply(bytes.NewReader(bytes.Repeat([]byte("x"), 2048)), d, layer.ApplyOptions{}); err == nil {
		t.Error("garbage: no error")
	}
}
