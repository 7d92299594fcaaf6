package layer_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/internal/overlay"
	"github.com/imgc-dev/imgc/store/layer"
)

func content(s string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(s)), nil }
}

func sampleEntries() []layer.Entry {
	mt := time.Unix(1650000000, 500)
	return []layer.Entry{
		{Path: "/app/main.py", Mode: 0o644, UID: 1000, GID: 1000, Size: 5, ModTime: mt, Open: content("print")},
		{Path: "/app.b", Mode: 0o600, Size: 0, ModTime: mt},
		{Path: "/app/bin", Mode: fs.ModeDir | 0o755, UID: 1000, GID: 1000, ModTime: mt},
		{Path: "/app", Mode: fs.ModeDir | 0o755 | fs.ModeSetgid, UID: 1000, GID: 1000, ModTime: mt},
		{Path: "/app/bin/run", Mode: 0o755 | fs.ModeSetuid, Size: 2, ModTime: mt, Open: content("#!")},
		{Path: "/app/current", Mode: fs.ModeSymlink | 0o777, Linkname: "bin/run", ModTime: mt},
		{Path: "/tmp", Mode: fs.ModeDir | 0o777 | fs.ModeSticky, ModTime: mt},
	}
}

func TestWriteEntries(t *testing.T) {
	var buf bytes.Buffer
	if err := layer.WriteEntries(&buf, sampleEntries(), layer.Options{}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"app/ 5 2755 1000:1000",
		"app/bin/ 5 755 1000:1000",
		`app/bin/run 0 4755 0:0 "#!"`,
		"app/current 2 777 0:0 -> bin/run",
		`app/main.py 0 644 1000:1000 "print"`,
		`app.b 0 600 0:0 ""`,
		"tmp/ 5 1777 0:0",
	}
	if diff := cmp.Diff(want, listTar(t, buf.Bytes())); diff != "" {
		t.Errorf("layer (-want +got):\n%s", diff)
	}
	var again bytes.Buffer
	if err := layer.WriteEntries(&again, sampleEntries(), layer.Options{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two writes differ")
	}
	epoch := time.Unix(1600000000, 0)
	buf.Reset()
	if err := layer.WriteEntries(&buf, sampleEntries(), layer.Options{SourceDateEpoch: &epoch}); err != nil {
		t.Fatal(err)
	}
	for _, h := range headers(t, buf.Bytes()) {
		if !h.ModTime.Equal(epoch) {
			t.Errorf("%s: mtime %v, want %v", h.Name, h.ModTime, epoch)
		}
	}
}

func TestWriteEntriesErrors(t *testing.T) {
	failing := func() (io.ReadCloser, error) { return nil, errors.New("source vanished") }
	for _, tc := range []struct {
		name  string
		entry layer.Entry
		want  string
	}{
		{"relative", layer.Entry{Path: "app/x"}, "must be absolute"},
		{"unclean", layer.Entry{Path: "/app/../x"}, "must be absolute, clean"},
		{"root", layer.Entry{Path: "/"}, "not the root"},
		{"short content", layer.Entry{Path: "/x", Size: 10, Open: content("abc")}, "content is 3 bytes, want 10"},
		{"long content", layer.Entry{Path: "/x", Size: 1, Open: content("abc")}, "larger than 1 bytes"},
		{"no content", layer.Entry{Path: "/x", Size: 1}, "without content"},
		{"open fails", layer.Entry{Path: "/x", Size: 1, Open: failing}, "source vanished"},
		{"device", layer.Entry{Path: "/dev/x", Mode: fs.ModeDevice}, "unsupported file type"},
		{"whiteout name", layer.Entry{Path: "/a/.wh.b"}, "reserved for whiteouts"},
		{"symlink without target", layer.Entry{Path: "/l", Mode: fs.ModeSymlink}, "without a target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := layer.WriteEntries(io.Discard, []layer.Entry{tc.entry}, layer.Options{})
			if !errContains(err, tc.want) {
				t.Errorf("WriteEntries error = %v, want one containing %q", err, tc.want)
			}
		})
	}
	err := layer.WriteEntries(io.Discard, []layer.Entry{{Path: "/x"}, {Path: "/x"}}, layer.Options{})
	if !errContains(err, "appears twice") {
		t.Errorf("duplicate entries: %v", err)
	}
}

// TestWriteEntriesToDir checks that materialising entries and writing the
// directory as an upper gives exactly the tar WriteEntries writes.
func TestWriteEntriesToDir(t *testing.T) {
	requireRoot(t)
	d := t.TempDir()
	if err := layer.WriteEntriesToDir(d, sampleEntries()); err != nil {
		t.Fatal(err)
	}
	var fromDir, direct bytes.Buffer
	if _, err := layer.WriteUpperDir(&fromDir, d, layer.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := layer.WriteEntries(&direct, sampleEntries(), layer.Options{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(listTar(t, direct.Bytes()), listTar(t, fromDir.Bytes())); diff != "" {
		t.Errorf("(-WriteEntries +WriteEntriesToDir):\n%s", diff)
	}
	if !bytes.Equal(direct.Bytes(), fromDir.Bytes()) {
		t.Error("tars differ")
	}
}

// TestWriteEntriesToDirComposes plays two steps of one layer into an upper
// dir that already has a RUN step's whiteouts and files.
func TestWriteEntriesToDirComposes(t *testing.T) {
	requireRoot(t)
	upper := t.TempDir()
	mt := time.Unix(1650000000, 0)
	// A previous step deleted /opt and /etc/motd and made /srv/data.
	for _, p := range []string{"opt", "etc/motd"} {
		os.MkdirAll(filepath.Dir(filepath.Join(upper, p)), 0o755)
		if err := unix.Mknod(filepath.Join(upper, p), unix.S_IFCHR, 0); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(upper, "srv/data/old"), "old")

	steps := [][]layer.Entry{
		{
			{Path: "/opt", Mode: fs.ModeDir | 0o755, ModTime: mt},
			{Path: "/opt/tool", Mode: 0o755, Size: 1, Open: content("1"), ModTime: mt},
			{Path: "/srv/data", Mode: 0o644, Size: 4, Open: content("file"), ModTime: mt},
		},
		{
			{Path: "/opt/tool", Mode: 0o700, Size: 2, Open: content("v2"), ModTime: mt},
			{Path: "/etc/motd/x", Mode: 0o644, Size: 0, ModTime: mt},
		},
	}
	for _, s := range steps {
		if err := layer.WriteEntriesToDir(upper, s); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := layer.WriteUpperDir(&buf, upper, layer.Options{}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"etc/ 5 755 0:0",
		// The whiteout became an implicit opaque parent.
		"etc/motd/ 5 755 0:0",
		`etc/motd/.wh..wh..opq 0 755 0:0 ""`,
		`etc/motd/x 0 644 0:0 ""`,
		"opt/ 5 755 0:0",
		`opt/.wh..wh..opq 0 755 0:0 ""`,
		`opt/tool 0 700 0:0 "v2"`,
		"srv/ 5 755 0:0",
		`srv/data 0 644 0:0 "file"`,
	}
	if diff := cmp.Diff(want, listTar(t, buf.Bytes())); diff != "" {
		t.Errorf("layer (-want +got):\n%s", diff)
	}
}

// TestWriteEntriesToMergedDir writes entries through a mounted overlay, as
// a copy step between RUN steps of one layer does.
func TestWriteEntriesToMergedDir(t *testing.T) {
	requireRoot(t)
	d := t.TempDir()
	lower, merged, upper, work := filepath.Join(d, "lower"), filepath.Join(d, "merged"), filepath.Join(d, "upper"), filepath.Join(d, "work")
	writeFile(t, filepath.Join(lower, "usr/lib/keep"), "lower")
	writeFile(t, filepath.Join(lower, "data/old"), "lower")
	writeFile(t, filepath.Join(lower, "cfg"), "a file in the lower")
	if err := os.Symlink("usr/lib", filepath.Join(lower, "lib")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/", filepath.Join(lower, "evil")); err != nil {
		t.Fatal(err)
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
	mt := time.Unix(1650000000, 0)
	entries := []layer.Entry{
		{Path: "/lib/added", Mode: 0o644, Size: 1, Open: content("x"), ModTime: mt},
		{Path: "/cfg", Mode: fs.ModeDir | 0o755, ModTime: mt},
		{Path: "/cfg/main", Mode: 0o644, Size: 1, Open: content("y"), ModTime: mt},
		{Path: "/data", Mode: 0o640, Size: 1, Open: content("z"), ModTime: mt},
		{Path: "/evil/etc/imgc-must-not-exist", Mode: 0o644, ModTime: mt},
	}
	if err := layer.WriteEntriesToDir(merged, entries); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat("/etc/imgc-must-not-exist"); err == nil {
		os.Remove("/etc/imgc-must-not-exist")
		t.Fatal("an entry was written on the host through a symlink")
	}
	if err := overlay.Unmount(merged); err != nil {
		t.Fatal(err)
	}
	mounted = false
	var buf bytes.Buffer
	if _, err := layer.WriteUpperDir(&buf, upper, layer.Options{Lowers: []string{lower}}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"cfg/ 5 755 0:0",
		`cfg/main 0 644 0:0 "y"`,
		`data 0 640 0:0 "z"`,
		"etc/ 5 755 0:0",
		`etc/imgc-must-not-exist 0 644 0:0 ""`,
		"usr/ 5 755 0:0",
		"usr/lib/ 5 755 0:0",
		`usr/lib/added 0 644 0:0 "x"`,
	}
	got := listTar(t, buf.Bytes())
	// The kernel decides whether the directory that replaced a file is
	// marked opaque (it need not be: nothing is below it).
	got = slicesDelete(got, `cfg/.wh..wh..opq 0 755 0:0 ""`)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("layer (-want +got):\n%s", diff)
	}
}

func slicesDelete(s []string, v string) []string {
	var out []string
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

func TestWriteEntriesToDirRefusesFileAsParent(t *testing.T) {
	requireRoot(t)
	d := t.TempDir()
	writeFile(t, filepath.Join(d, "a"), "file")
	if err := os.Symlink("/etc", filepath.Join(d, "l")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{"/a/b", "a parent is not a directory"},
		{"/l/imgc-must-not-exist", "a parent is a symbolic link"},
	} {
		err := layer.WriteEntriesToDir(d, []layer.Entry{{Path: tc.path, Mode: 0o644}})
		if !errContains(err, tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.path, err, tc.want)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(d, "a")); string(data) != "file" {
		t.Errorf("a = %q, want it untouched", data)
	}
	if _, err := os.Lstat("/etc/imgc-must-not-exist"); err == nil {
		os.Remove("/etc/imgc-must-not-exist")
		t.Error("written through a symlink")
	}
}

// closeErr is content whose Close fails, as a verified context file's
// does when its digest is not the planned one.
type closeErr struct{ io.Reader }

func (closeErr) Close() error { return errors.New("changed since it was planned") }

// manyEntries is a layer of n files of sizes around the read-ahead's
// bound (empty, small, 64 KiB, 64 KiB + 1), so that files are read ahead
// and streamed in turn.
func manyEntries(n int) ([]layer.Entry, map[string]string) {
	mt := time.Unix(1650000000, 0)
	sizes := []int{0, 1, 1000, 64 << 10, 64<<10 + 1}
	want := map[string]string{}
	var es []layer.Entry
	for i := range n {
		p := fmt.Sprintf("/d/f%04d", i)
		c := strings.Repeat(string(rune('a'+i%26)), sizes[i%len(sizes)])
		want[strings.TrimPrefix(p, "/")] = c
		es = append(es, layer.Entry{Path: p, Mode: 0o644, Size: int64(len(c)), ModTime: mt, Open: content(c)})
	}
	return append(es, layer.Entry{Path: "/d", Mode: fs.ModeDir | 0o755, ModTime: mt}), want
}

// TestWriteEntriesReadsAhead checks a layer of many files, whose small
// files are read ahead on several goroutines: every file has its own
// content, in order, and two writes are the same bytes.
func TestWriteEntriesReadsAhead(t *testing.T) {
	es, want := manyEntries(1000)
	var buf, again bytes.Buffer
	if err := layer.WriteEntries(&buf, es, layer.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := layer.WriteEntries(&again, es, layer.Options{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two writes differ")
	}
	got := map[string]string{}
	tr := tar.NewReader(&buf)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			got[h.Name] = string(b)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("contents (-want +got):\n%s", diff)
	}
	if !sort.StringsAreSorted(names) || len(names) != 1001 {
		t.Errorf("%d entries, sorted %v", len(names), sort.StringsAreSorted(names))
	}
}

// TestWriteEntriesReadAheadErrors checks that a file read ahead fails the
// layer as one written in turn does, naming it, and that the writer stops.
func TestWriteEntriesReadAheadErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func() (io.ReadCloser, error)
		size int64
		want string
	}{
		{"short", content("abc"), 10, "content is 3 bytes, want 10"},
		{"long", content("abcdef"), 2, "larger than 2 bytes"},
		{"open fails", func() (io.ReadCloser, error) { return nil, errors.New("source vanished") }, 1, "source vanished"},
		{"close fails", func() (io.ReadCloser, error) { return closeErr{strings.NewReader("x")}, nil }, 1, "changed since it was planned"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es, _ := manyEntries(600)
			es[301].Open, es[301].Size = tc.open, tc.size
			err := layer.WriteEntries(io.Discard, es, layer.Options{})
			if !errContains(err, tc.want) || !errContains(err, es[301].Path) {
				t.Errorf("WriteEntries error = %v, want one naming %s and containing %q", err, es[301].Path, tc.want)
			}
		})
	}
}

// TestWriteUpperDirListingFails checks that a listing that fails (a name
// a layer cannot hold) fails the layer with that error, and that the tar
// written so far is not ended as a whole one.
func TestWriteUpperDirListingFails(t *testing.T) {
	upper := t.TempDir()
	for i := range 300 {
		writeFile(t, filepath.Join(upper, "a", fmt.Sprintf("f%03d", i)), "x")
	}
	writeFile(t, filepath.Join(upper, "b", ".wh.reserved"), "x")
	var buf bytes.Buffer
	_, err := layer.WriteUpperDir(&buf, upper, layer.Options{})
	if !errContains(err, "reserved for whiteouts") {
		t.Fatalf("WriteUpperDir error = %v, want the reserved name's", err)
	}
	if b := buf.Bytes(); len(b) >= 1024 && bytes.Equal(b[len(b)-1024:], make([]byte, 1024)) {
		t.Error("the failed layer's tar ends with the two zero blocks of a complete tar")
	}
}
