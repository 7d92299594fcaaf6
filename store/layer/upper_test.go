package layer_test

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/internal/overlay"
	"github.com/imgc-dev/imgc/store/layer"
)

// capNetRaw is a security.capability value (VFS_CAP_REVISION_2, effective)
// granting CAP_NET_RAW.
var capNetRaw = string([]byte{1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})

// changedUpper mounts an overlay over a small lower dir, changes it the way
// RUN steps do, unmounts it and returns the upper dir.
func changedUpper(t *testing.T) string {
	t.Helper()
	requireRoot(t)
	d := t.TempDir()
	lower, merged, upper, work := filepath.Join(d, "lower"), filepath.Join(d, "merged"), filepath.Join(d, "upper"), filepath.Join(d, "work")
	for _, p := range []string{"bin/a", "bin/b", "bin/c", "bin/keep", "etc/old", "etc/sub/old", "usr/sbin/x", "home/user/.profile", "lib/x"} {
		writeFile(t, filepath.Join(lower, p), "lower "+p)
	}
	for _, p := range []string{merged, upper, work} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := overlay.Mount(merged, []string{lower}, upper, work); err != nil {
		t.Skipf("overlay mount does not work here: %v", err)
	}
	mounted := true
	defer func() {
		if mounted {
			overlay.Unmount(merged)
		}
	}()
	m := func(p string) string { return filepath.Join(merged, p) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Several whiteouts: the kernel links them all to one inode.
	for _, p := range []string{"bin/a", "bin/b", "bin/c"} {
		must(os.Remove(m(p)))
	}
	must(os.RemoveAll(m("usr/sbin")))
	// rm -rf + mkdir: an opaque directory.
	must(os.RemoveAll(m("etc")))
	must(os.Mkdir(m("etc"), 0o755))
	must(os.WriteFile(m("etc/new"), []byte("new"), 0o644))
	// Metadata-only copy-up.
	must(os.Chmod(m("home/user"), 0o700))
	// Hard links: new files, and a lower file linked (copied up first).
	must(os.MkdirAll(m("data"), 0o755))
	must(os.WriteFile(m("data/f"), []byte("shared"), 0o600))
	must(os.Link(m("data/f"), m("data/g")))
	must(os.Link(m("lib/x"), m("lib/y")))
	// Xattrs that belong in the layer.
	must(os.WriteFile(m("data/ping"), []byte("#!"), 0o755))
	must(unix.Lsetxattr(m("data/ping"), "security.capability", []byte(capNetRaw), 0))
	must(unix.Lsetxattr(m("data/ping"), "user.note", []byte("hi"), 0))
	// A fifo is kept, a socket is not.
	must(unix.Mkfifo(m("data/fifo"), 0o644))
	l, err := net.Listen("unix", m("data/sock"))
	must(err)
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	must(os.Symlink("/data/f", m("data/link")))

	must(overlay.Unmount(merged))
	mounted = false

	// Check the scenario really has what it claims to.
	if st := lstat(t, filepath.Join(upper, "bin/a")); st.Nlink < 3 {
		t.Errorf("whiteouts are not shared inodes (nlink %d): the test does not exercise the hard-link trap", st.Nlink)
	}
	if xattr(filepath.Join(upper, "etc"), "trusted.overlay.opaque") != "y" {
		t.Error("etc is not opaque in the upper dir")
	}
	return upper
}

func TestWriteUpperDir(t *testing.T) {
	upper := changedUpper(t)
	var buf bytes.Buffer
	empty, err := layer.WriteUpperDir(&buf, upper, layer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if empty {
		t.Error("empty = true")
	}
	want := []string{
		`bin/ 5 755 0:0`,
		`bin/.wh.a 0 0 0:0 ""`,
		`bin/.wh.b 0 0 0:0 ""`,
		`bin/.wh.c 0 0 0:0 ""`,
		`data/ 5 755 0:0`,
		`data/f 0 600 0:0 "shared"`,
		`data/fifo 6 644 0:0`,
		`data/g 1 600 0:0 -> data/f`,
		`data/link 2 777 0:0 -> /data/f`,
		`data/ping 0 755 0:0 "#!" SCHILY.xattr.security.capability=` + strconv.Quote(capNetRaw) + ` SCHILY.xattr.user.note="hi"`,
		`etc/ 5 755 0:0`,
		`etc/.wh..wh..opq 0 755 0:0 ""`,
		`etc/new 0 644 0:0 "new"`,
		`home/ 5 755 0:0`,
		`home/user/ 5 700 0:0`,
		`lib/ 5 755 0:0`,
		`lib/x 0 644 0:0 "lower lib/x"`,
		`lib/y 1 644 0:0 -> lib/x`,
		`usr/ 5 755 0:0`,
		`usr/.wh.sbin 0 0 0:0 ""`,
	}
	if diff := cmp.Diff(want, listTar(t, buf.Bytes())); diff != "" {
		t.Errorf("layer (-want +got):\n%s", diff)
	}
	for _, h := range headers(t, buf.Bytes()) {
		if h.Uname != "" || h.Gname != "" || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() || h.ModTime.Nanosecond() != 0 {
			t.Errorf("%s: uname %q gname %q atime %v ctime %v mtime %v: want numeric owners, no atime/ctime, whole seconds",
				h.Name, h.Uname, h.Gname, h.AccessTime, h.ChangeTime, h.ModTime)
		}
	}
}

func TestWriteUpperDirDeterministic(t *testing.T) {
	upper := changedUpper(t)
	write := func(opts layer.Options) []byte {
		var buf bytes.Buffer
		if _, err := layer.WriteUpperDir(&buf, upper, opts); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	if !bytes.Equal(write(layer.Options{}), write(layer.Options{})) {
		t.Error("two writes of one upper dir differ")
	}

	old := time.Unix(1000000000, 0)
	if err := os.Chtimes(filepath.Join(upper, "data/fifo"), old, old); err != nil {
		t.Fatal(err)
	}
	epoch := time.Unix(1700000000, 0)
	clamped := write(layer.Options{SourceDateEpoch: &epoch})
	for _, h := range headers(t, clamped) {
		want := epoch
		if h.Name == "data/fifo" {
			want = old // older than the epoch: kept
		}
		if !h.ModTime.Equal(want) {
			t.Errorf("%s: mtime %v, want %v", h.Name, h.ModTime, want)
		}
	}
	// Clamped layers of two different upper dirs with equal content are
	// byte-identical.
	upper2 := changedUpper(t)
	if err := os.Chtimes(filepath.Join(upper2, "data/fifo"), old, old); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := layer.WriteUpperDir(&buf, upper2, layer.Options{SourceDateEpoch: &epoch}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(listTar(t, clamped), listTar(t, buf.Bytes())); diff != "" || !bytes.Equal(clamped, buf.Bytes()) {
		t.Errorf("clamped layers of equal upper dirs differ:\n%s", diff)
	}
}

func TestWriteUpperDirEmpty(t *testing.T) {
	var buf bytes.Buffer
	empty, err := layer.WriteUpperDir(&buf, t.TempDir(), layer.Options{})
	if err != nil || !empty {
		t.Fatalf("WriteUpperDir = %v, %v; want true, nil", empty, err)
	}
	if got := headers(t, buf.Bytes()); len(got) != 0 {
		t.Errorf("empty upper gave %d entries", len(got))
	}
	if _, err := layer.WriteUpperDir(&buf, filepath.Join(t.TempDir(), "missing"), layer.Options{}); err == nil {
		t.Error("missing upper dir: no error")
	}
}

// TestRoundTrip applies a layer written from an upper dir and writes the
// result again: the tar must come back byte for byte, and the unpacked tree
// must work as an overlay lower with the right things hidden.
func TestRoundTrip(t *testing.T) {
	upper := changedUpper(t)
	// Old times everywhere, so that a copy made now cannot match by chance.
	old := time.Unix(1000000000, 0)
	filepath.Walk(upper, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{unix.NsecToTimespec(old.UnixNano()), unix.NsecToTimespec(old.UnixNano())}, unix.AT_SYMLINK_NOFOLLOW)
		}
		return nil
	})
	var first bytes.Buffer
	if _, err := layer.WriteUpperDir(&first, upper, layer.Options{}); err != nil {
		t.Fatal(err)
	}
	unpacked := t.TempDir()
	if err := layer.Apply(bytes.NewReader(first.Bytes()), unpacked, layer.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if st := lstat(t, filepath.Join(unpacked, "bin/a")); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("bin/a: mode %o rdev %d, want a 0:0 whiteout device", st.Mode, st.Rdev)
	}
	if xattr(filepath.Join(unpacked, "etc"), "trusted.overlay.opaque") != "y" {
		t.Error("etc is not opaque after Apply")
	}
	var second bytes.Buffer
	if _, err := layer.WriteUpperDir(&second, unpacked, layer.Options{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(listTar(t, first.Bytes()), listTar(t, second.Bytes())); diff != "" {
		t.Errorf("round trip (-first +second):\n%s", diff)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Error("round trip is not byte-identical")
	}

	// The unpacked layer as the top lower of a read-only overlay.
	base := t.TempDir()
	for _, p := range []string{"bin/a", "bin/keep", "etc/old", "usr/sbin/x"} {
		writeFile(t, filepath.Join(base, p), "base")
	}
	merged := t.TempDir()
	if err := overlay.Mount(merged, []string{unpacked, base}, "", ""); err != nil {
		t.Skipf("overlay mount does not work here: %v", err)
	}
	defer overlay.Unmount(merged)
	for p, want := range map[string]bool{"bin/a": false, "bin/keep": true, "etc/old": false, "etc/new": true, "usr/sbin": false, "data/g": true} {
		_, err := os.Lstat(filepath.Join(merged, p))
		if got := err == nil; got != want {
			t.Errorf("%s visible = %v, want %v", p, got, want)
		}
	}
}

func TestWriteUpperDirLeavesOutCopiedUpDirs(t *testing.T) {
	requireRoot(t)
	d := t.TempDir()
	lower, merged, upper, work := filepath.Join(d, "lower"), filepath.Join(d, "merged"), filepath.Join(d, "upper"), filepath.Join(d, "work")
	for _, p := range []string{"srv/www/index", "etc/hosts", "home/readme"} {
		writeFile(t, filepath.Join(lower, p), "lower")
	}
	for _, p := range []string{merged, upper, work} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := overlay.Mount(merged, []string{lower}, upper, work); err != nil {
		t.Skipf("overlay mount does not work here: %v", err)
	}
	wwwInfo, err := os.Stat(filepath.Join(lower, "srv/www"))
	if err != nil {
		t.Fatal(err)
	}
	// A file made and removed again (as a mount stub is) copies its parents
	// up; restoring the parent's mtime leaves them equal to the lower's.
	writeFile(t, filepath.Join(merged, "srv/www/stub"), "")
	os.Remove(filepath.Join(merged, "srv/www/stub"))
	os.Chtimes(filepath.Join(merged, "srv/www"), wwwInfo.ModTime(), wwwInfo.ModTime())
	writeFile(t, filepath.Join(merged, "etc/hosts"), "changed")
	os.Chmod(filepath.Join(merged, "home"), 0o700)
	if err := overlay.Unmount(merged); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(upper, "srv/www")); err != nil {
		t.Fatalf("srv/www was not copied up: the test does not exercise anything: %v", err)
	}
	list := func(opts layer.Options) []string {
		var buf bytes.Buffer
		if _, err := layer.WriteUpperDir(&buf, upper, opts); err != nil {
			t.Fatal(err)
		}
		return listTar(t, buf.Bytes())
	}
	want := []string{`etc/ 5 755 0:0`, `etc/hosts 0 644 0:0 "changed"`, `home/ 5 700 0:0`}
	if diff := cmp.Diff(want, list(layer.Options{Lowers: []string{lower}})); diff != "" {
		t.Errorf("with Lowers (-want +got):\n%s", diff)
	}
	want = append(want, `srv/ 5 755 0:0`, `srv/www/ 5 755 0:0`)
	if diff := cmp.Diff(want, list(layer.Options{})); diff != "" {
		t.Errorf("without Lowers (-want +got):\n%s", diff)
	}
}

func TestWriteUpperDirRefusesWhatALayerCannotSay(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name  string
		setup func(upper string) error
		want  string
	}{
		{"redirect", func(upper string) error {
			os.Mkdir(filepath.Join(upper, "moved"), 0o755)
			return unix.Lsetxattr(filepath.Join(upper, "moved"), "trusted.overlay.redirect", []byte("/orig"), 0)
		}, "moved was renamed with overlay redirect_dir"},
		{"metacopy", func(upper string) error {
			os.WriteFile(filepath.Join(upper, "f"), nil, 0o644)
			return unix.Lsetxattr(filepath.Join(upper, "f"), "trusted.overlay.metacopy", nil, 0)
		}, "f was copied up with overlay metacopy"},
		{"reserved name", func(upper string) error {
			return os.WriteFile(filepath.Join(upper, ".wh.x"), nil, 0o644)
		}, `".wh." are reserved for whiteouts`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			upper := t.TempDir()
			if err := tc.setup(upper); err != nil {
				t.Fatal(err)
			}
			_, err := layer.WriteUpperDir(io.Discard, upper, layer.Options{})
			if !errContains(err, tc.want) {
				t.Errorf("WriteUpperDir error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// A step that makes and removes a file in a lower directory (a scratch file
// in /tmp) changes only that directory's mtime: the directory is left out,
// as BuildKit's differ leaves it out, so both engines write the same layer.
// A directory whose mode changed is written.
func TestWriteUpperDirLeavesOutDirsOnlyTouched(t *testing.T) {
	requireRoot(t)
	d := t.TempDir()
	lower, merged, upper, work := filepath.Join(d, "lower"), filepath.Join(d, "merged"), filepath.Join(d, "upper"), filepath.Join(d, "work")
	for _, p := range []string{"tmp/keep", "var/keep"} {
		writeFile(t, filepath.Join(lower, p), "lower")
	}
	old := time.Unix(1600000000, 0)
	for _, p := range []string{"tmp", "var"} {
		if err := os.Chtimes(filepath.Join(lower, p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{merged, upper, work} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := overlay.Mount(merged, []string{lower}, upper, work); err != nil {
		t.Skipf("overlay mount does not work here: %v", err)
	}
	writeFile(t, filepath.Join(merged, "tmp/count"), "5")
	os.Remove(filepath.Join(merged, "tmp/count"))
	writeFile(t, filepath.Join(merged, "var/scratch"), "")
	os.Remove(filepath.Join(merged, "var/scratch"))
	os.Chmod(filepath.Join(merged, "var"), 0o700)
	if err := overlay.Unmount(merged); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(upper, "tmp"))
	if err != nil || st.ModTime().Equal(old) {
		t.Fatalf("tmp was not copied up with a new mtime (%v): the test does not exercise anything", err)
	}
	var buf bytes.Buffer
	if _, err := layer.WriteUpperDir(&buf, upper, layer.Options{Lowers: []string{lower}}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{`var/ 5 700 0:0`}, listTar(t, buf.Bytes())); diff != "" {
		t.Errorf("layer (-want +got):\n%s", diff)
	}
}

// stepOver runs step in the merged directory of an overlay of lowers
// (top first), as a build's step runs, and returns the entry names of
// the layer written from its upper directory with those lowers.
func stepOver(t *testing.T, lowers []string, step func(merged string)) []string {
	t.Helper()
	d := t.TempDir()
	merged, upper, work := filepath.Join(d, "merged"), filepath.Join(d, "upper"), filepath.Join(d, "work")
	for _, p := range []string{merged, upper, work} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := overlay.Mount(merged, lowers, upper, work); err != nil {
		t.Skipf("overlay mount does not work here: %v", err)
	}
	step(merged)
	if err := overlay.Unmount(merged); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := layer.WriteUpperDir(&buf, upper, layer.Options{Lowers: lowers}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range listTar(t, buf.Bytes()) {
		names = append(names, strings.Fields(e)[0])
	}
	return names
}

// mkdirs makes the directories ps under root.
func mkdirs(t *testing.T, root string, ps ...string) {
	t.Helper()
	for _, p := range ps {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// makeOpaque marks the directory p opaque, as overlayfs marks one made
// where a lower had one.
func makeOpaque(t *testing.T, p string) {
	t.Helper()
	if err := unix.Setxattr(p, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Skipf("trusted xattrs do not work here: %v", err)
	}
}

// TestWriteUpperDirKeepsDirsMadeAgain: a directory made again below one a
// step deleted and made anew (opaque), or below one a lower deleted, is
// new, however much it looks like a directory of the hidden lowers: it is
// written, or the image loses it (RUN rm -rf /app && mkdir -p /app/logs,
// over a layer that had /app/logs).
func TestWriteUpperDirKeepsDirsMadeAgain(t *testing.T) {
	requireRoot(t)
	d := t.TempDir()
	// l1 has app/{logs,cache} and a/b/c; l2, above it, made a/ again
	// (opaque, empty).
	l1, l2 := filepath.Join(d, "l1"), filepath.Join(d, "l2")
	mkdirs(t, l1, "app/logs", "app/cache", "a/b/c")
	writeFile(t, filepath.Join(l1, "app/version"), "v1")
	mkdirs(t, l2, "a")
	makeOpaque(t, filepath.Join(l2, "a"))
	for _, p := range []string{l1, l2, filepath.Join(l1, "app"), filepath.Join(l1, "a"), filepath.Join(l2, "a")} {
		os.Chtimes(p, time.Unix(1600000000, 0), time.Unix(1600000000, 0))
	}
	got := stepOver(t, []string{l2, l1}, func(merged string) {
		if err := os.RemoveAll(filepath.Join(merged, "app")); err != nil {
			t.Fatal(err)
		}
		mkdirs(t, merged, "app/logs", "app/cache", "a/b")
		writeFile(t, filepath.Join(merged, "app/version"), "v2")
	})
	want := []string{"a/", "a/b/", "app/", "app/.wh..wh..opq", "app/cache/", "app/logs/", "app/version"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("layer (-want +got):\n%s", diff)
	}
}

// TestWriteUpperDirLeavesOutUnchangedCopyUps: a file a step opened for
// writing and left as it was (RUN : >> /etc/passwd) is copied up by
// overlayfs, and left out of the layer, as BuildKit's differ leaves it
// out; a file changed in content, mode or mtime is written.
func TestWriteUpperDirLeavesOutUnchangedCopyUps(t *testing.T) {
	requireRoot(t)
	lower := t.TempDir()
	for _, p := range []string{"etc/passwd", "etc/group", "etc/shadow", "etc/hosts", "etc/.pwd.lock"} {
		writeFile(t, filepath.Join(lower, p), "root:x:0:0\n")
	}
	got := stepOver(t, []string{lower}, func(merged string) {
		for _, p := range []string{"etc/passwd", "etc/.pwd.lock", "etc/group"} {
			f, err := os.OpenFile(filepath.Join(merged, p), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
		// etc/group: the same bytes, not the same mtime.
		os.Chtimes(filepath.Join(merged, "etc/group"), time.Unix(1700000000, 0), time.Unix(1700000000, 0))
		os.Chmod(filepath.Join(merged, "etc/shadow"), 0o600)
		writeFile(t, filepath.Join(merged, "etc/hosts"), "root:x:0:1\n")
	})
	want := []string{"etc/", "etc/group", "etc/hosts", "etc/shadow"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("layer (-want +got):\n%s", diff)
	}
}

// TestWriteUpperDirOpaqueAboveInALower: an opaque directory in a lower
// hides what the lowers below it hold at any depth under it, so a
// directory or file a step makes there is new and written, however like
// the hidden ones it is.
func TestWriteUpperDirOpaqueAboveInALower(t *testing.T) {
	requireRoot(t)
	d := t.TempDir()
	// l1: app/logs/x/ and app/logs/f; l2 made app/ again (opaque) with an
	// empty app/logs/.
	l1, l2 := filepath.Join(d, "l1"), filepath.Join(d, "l2")
	mkdirs(t, l1, "app/logs/x")
	mkdirs(t, l2, "app/logs")
	writeFile(t, filepath.Join(l1, "app/logs/f"), "same")
	makeOpaque(t, filepath.Join(l2, "app"))
	fi, err := os.Stat(filepath.Join(l1, "app/logs/f"))
	if err != nil {
		t.Fatal(err)
	}
	got := stepOver(t, []string{l2, l1}, func(merged string) {
		if err := os.Mkdir(filepath.Join(merged, "app/logs/x"), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(merged, "app/logs/f"), "same")
		os.Chmod(filepath.Join(merged, "app/logs/f"), fi.Mode())
		os.Chtimes(filepath.Join(merged, "app/logs/f"), fi.ModTime(), fi.ModTime())
	})
	want := []string{"app/", "app/logs/", "app/logs/f", "app/logs/x/"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("layer (-want +got):\n%s", diff)
	}
}
