package local_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/engine/local/runc"
	"github.com/imgc-dev/imgc/internal/testbase"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

func TestBuildCopyRunAndCache(t *testing.T) {
	base := requireRuntime(t)
	ctxDir := t.TempDir()
	writeFiles(t, ctxDir, map[string]string{
		"app/hello.txt": "hello from the context\n",
		"app/run.sh":    "echo \"$(cat /app/hello.txt) and $(cat /result)\"\n",
	})
	plan := func() *ir.Plan {
		line = 0
		tg := target("app", busyboxBase(base),
			layerOf("copy app", contextCopy(t, ctxDir, []string{"app"}, "/app/")),
			layerOf("edit", sh("rm /bin/ls && echo built > /built && echo tmp > /tmp/x && rm /tmp/x")),
			layerOf("combined",
				sh("echo scratch > /scratch.tmp"),
				sh("cat /scratch.tmp > /result && rm /scratch.tmp"),
				contextCopy(t, ctxDir, []string{"app/hello.txt"}, "/opt/deep/dir/")),
			layerOf("empty", sh("true")),
		)
		tg.Tags = []string{"example.com/app:1"}
		tg.Config = ir.ImageConfig{Entrypoint: []string{"/bin/sh", "/app/run.sh"}, EntrypointSet: true, Env: []string{"GREETING=hi"}}
		return &ir.Plan{Project: ctxDir, Targets: []*ir.Target{tg}}
	}
	s := openStore(t)
	out := filepath.Join(t.TempDir(), "out")
	epoch := time.Unix(1700000000, 0)
	res, ev, err := build(t, s, plan(), engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}, SourceDateEpoch: &epoch})
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.count("start"); got != 4 {
		t.Errorf("first build started %d layers, want 4", got)
	}
	img := layoutImage(t, out, "example.com/app:1")
	d, _ := img.Digest()
	if d.String() != res.Images[0].Digest {
		t.Errorf("layout digest %s, result %s", d, res.Images[0].Digest)
	}
	files := layerFiles(t, img)
	// busybox + copy + edit + combined; the empty layer is no layer.
	if len(files) != 4 {
		t.Fatalf("image has %d layers, want 4: %q", len(files), files)
	}
	for _, names := range files[1:] {
		for _, n := range names {
			if filepath.Base(n) == "scratch.tmp" || n == "tmp/x" || filepath.Base(n) == "resolv.conf" || filepath.Base(n) == "hostname" {
				t.Errorf("layer holds %s, which should reach no layer", n)
			}
		}
	}
	if !slices.Contains(files[2], "bin/.wh.ls") {
		t.Errorf("edit layer lacks the whiteout bin/.wh.ls: %q", files[2])
	}
	if diff := cmp.Diff([]string{"opt/", "opt/deep/", "opt/deep/dir/", "opt/deep/dir/hello.txt", "result"}, files[3]); diff != "" {
		t.Errorf("combined layer (-want +got):\n%s", diff)
	}
	root := testbase.Rootfs(t, img)
	for p, want := range map[string]string{"app/hello.txt": "hello from the context\n", "built": "built\n", "result": "scratch\n", "opt/deep/dir/hello.txt": "hello from the context\n"} {
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", p, got, err, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "bin/ls")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bin/ls survived its deletion: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(cf.History) != 5 || !cf.History[4].EmptyLayer || cf.History[1].Comment == "" {
		t.Errorf("history = %+v, want 5 entries, the last empty", cf.History)
	}
	if cf.Config.Cmd != nil {
		t.Errorf("Cmd = %q, want none (entrypoint clears the inherited cmd)", cf.Config.Cmd)
	}

	// The image runs and its entrypoint prints what it should.
	var stdout bytes.Buffer
	args := append(cf.Config.Entrypoint, cf.Config.Cmd...)
	code, err := runc.Run(t.Context(), t.TempDir(), runc.Spec{ID: "imgc-test-run", Rootfs: root, Args: args, Env: cf.Config.Env, Network: "none"}, &stdout, &stdout)
	if err != nil || code != 0 {
		t.Fatalf("running the image: exit %d, %v\n%s", code, err, stdout.String())
	}
	if got, want := stdout.String(), "hello from the context and scratch\n"; got != want {
		t.Errorf("entrypoint printed %q, want %q", got, want)
	}

	// A rebuild reuses every layer and gives the same image.
	start := time.Now()
	res2, ev2, err := build(t, s, plan(), engine.BuildOptions{SourceDateEpoch: &epoch})
	if err != nil {
		t.Fatal(err)
	}
	warm := time.Since(start)
	t.Logf("warm build: %v", warm)
	if ev2.count("start") != 0 || ev2.count("cached") != 4 {
		t.Errorf("rebuild: %d started, %d cached; want 0 and 4", ev2.count("start"), ev2.count("cached"))
	}
	if res2.Images[0].Digest != res.Images[0].Digest {
		dumpImage(t, s, res.Images[0].Digest)
		dumpImage(t, s, res2.Images[0].Digest)
		t.Errorf("rebuild digest %s, first %s", res2.Images[0].Digest, res.Images[0].Digest)
	}

	// Explain: all hits; an edited file misses with a reason.
	st := local.New(s).Explain(plan())
	for k, v := range st {
		if !v.Hit {
			t.Errorf("layer %s: %+v, want a hit", k.Short(), v)
		}
	}
	writeFiles(t, ctxDir, map[string]string{"app/hello.txt": "changed\n"})
	p3 := plan()
	st = local.New(s).Explain(p3)
	if got := st[p3.Targets[0].Layers[0].Key]; got.Hit || got.Reason == "" {
		t.Errorf("edited copy layer: %+v, want a miss with a reason", got)
	}
	if got := st[p3.Targets[0].Layers[1].Key]; got.Hit || got.Reason != "parent layer rebuilt" {
		t.Errorf("layer after the edit: %+v, want a miss: parent layer rebuilt", got)
	}
	t.Logf("reasons: %q, %q", st[p3.Targets[0].Layers[0].Key].Reason, st[p3.Targets[0].Layers[1].Key].Reason)

	// Images, history and the cache listing see the build.
	imgs, err := s.Images()
	if err != nil || len(imgs) != 1 || imgs[0].Name != "example.com/app:1" {
		t.Errorf("Images() = %+v, %v", imgs, err)
	}
	hist, err := s.History("example.com/app:1")
	if err != nil || len(hist) != 5 || hist[1].Source == "" || hist[1].Size == 0 {
		t.Errorf("History() = %+v, %v", hist, err)
	}
	entries, err := s.CacheList()
	if err != nil || len(entries) != 4 {
		t.Errorf("CacheList() = %d entries, %v; want 4", len(entries), err)
	}

	// A prune keeps the blobs of stored images: their layers still hit.
	writeFiles(t, ctxDir, map[string]string{"app/hello.txt": "hello from the context\n"})
	freed, err := s.Prune()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("prune freed %d bytes", freed)
	st = local.New(s).Explain(plan())
	// The image is still stored, so its layers' blobs are kept: hits.
	for _, l := range plan().Targets[0].Layers {
		if !st[l.Key].Hit {
			t.Errorf("after prune, layer %s of a stored image: %+v, want a hit", l.Name, st[l.Key])
		}
	}
}

func dumpImage(t *testing.T, s *store.Store, digest string) {
	h := strings.TrimPrefix(digest, "sha256:")
	m, _ := os.ReadFile(filepath.Join(s.Dir(), "oci/blobs/sha256", h))
	t.Logf("manifest %s", m)
	var man struct{ Config struct{ Digest string } }
	json.Unmarshal(m, &man)
	c, _ := os.ReadFile(filepath.Join(s.Dir(), "oci/blobs/sha256", strings.TrimPrefix(man.Config.Digest, "sha256:")))
	t.Logf("config %s", c)
}

func TestMergedLayerKeepsStepEntries(t *testing.T) {
	base := requireRuntime(t)
	s := openStore(t)
	plan := func(second string) *ir.Plan {
		line = 0
		one := layerOf("one", sh("echo a > /a && echo tmp > /t"))
		two := layerOf("two", sh(second))
		tg := target("app", busyboxBase(base), one, two)
		merged := &ir.Layer{Name: "merged", Steps: append(one.Steps, two.Steps...), Merged: []ir.CacheKey{one.Key, two.Key},
			Parent: one.Parent, Key: ir.KeyOf([]byte("merged " + one.Key.String() + two.Key.String())), CreatedBy: "merged", Origin: one.Origin}
		tg.Layers = []*ir.Layer{merged}
		return &ir.Plan{Project: "merged", Targets: []*ir.Target{tg}}
	}
	out := filepath.Join(t.TempDir(), "out")
	_, ev, err := build(t, s, plan("rm /t && echo b > /b"), engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}})
	if err != nil {
		t.Fatal(err)
	}
	if ev.count("start") != 3 {
		t.Errorf("%d layers started, want 3 (two steps and the merged layer)", ev.count("start"))
	}
	files := layerFiles(t, layoutImage(t, out, "app"))
	if len(files) != 2 {
		t.Fatalf("%d layers, want the base and one merged layer", len(files))
	}
	if diff := cmp.Diff([]string{"a", "b"}, files[1]); diff != "" {
		t.Errorf("merged layer (-want +got):\n%s", diff)
	}
	// Changing the second step re-runs it alone and re-packs the layer.
	_, ev, err = build(t, s, plan("rm /t && echo c > /c"), engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}})
	if err != nil {
		t.Fatal(err)
	}
	if ev.count("cached") != 1 || ev.count("start") != 2 {
		t.Errorf("after changing step 2: %d cached, %d started; want 1 and 2", ev.count("cached"), ev.count("start"))
	}
	files = layerFiles(t, layoutImage(t, out, "app"))
	if diff := cmp.Diff([]string{"a", "c"}, files[1]); diff != "" {
		t.Errorf("re-packed layer (-want +got):\n%s", diff)
	}
}

func TestBuildRefusesBadPlans(t *testing.T) {
	s := openStore(t)
	base := ir.Base{Kind: ir.BaseScratch, Key: ir.KeyOf([]byte("scratch"))}
	a := &ir.Target{Name: "a", Base: base}
	b := &ir.Target{Name: "b", Base: base, DependsOn: []string{"c"}}
	c := &ir.Target{Name: "c", Base: ir.Base{Kind: ir.BaseTarget, Target: "b"}}
	for name, p := range map[string]*ir.Plan{
		"nil":        nil,
		"duplicate":  {Targets: []*ir.Target{a, a}},
		"dependency": {Targets: []*ir.Target{b, c}},
		"base":       {Targets: []*ir.Target{c}},
	} {
		if _, err := local.New(s).Build(t.Context(), p, engine.BuildOptions{}); err == nil {
			t.Errorf("%s: Build accepted the plan", name)
		}
	}
}

func TestScratchCopyOnly(t *testing.T) {
	// No runc or overlay needed: a scratch image of copied files.
	testbase.Require(t)
	ctxDir := t.TempDir()
	writeFiles(t, ctxDir, map[string]string{"bin/tool": "#!/bin/true\n", "etc/conf": "k=v\n"})
	cp := contextCopy(t, ctxDir, []string{"bin/tool", "etc/conf"}, "/usr/local/share/")
	cp.Chown, cp.Chmod = "1000:1000", "0750"
	tg := target("scratch", ir.Base{Kind: ir.BaseScratch, Key: ir.KeyOf([]byte("scratch"))}, layerOf("files", cp))
	tg.Config = ir.ImageConfig{Cmd: []string{"/usr/local/share/tool"}, CmdSet: true, Labels: map[string]string{"a": "b"}, ExposedPorts: []string{"8080"}}
	out := filepath.Join(t.TempDir(), "out")
	if _, _, err := build(t, openStore(t), &ir.Plan{Project: "scratch", Targets: []*ir.Target{tg}}, engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}}); err != nil {
		t.Fatal(err)
	}
	img := layoutImage(t, out, "scratch")
	files := layerFiles(t, img)
	want := [][]string{{"usr/", "usr/local/", "usr/local/share/", "usr/local/share/conf", "usr/local/share/tool"}}
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("layers (-want +got):\n%s", diff)
	}
	root := testbase.Rootfs(t, img)
	fi, err := os.Stat(filepath.Join(root, "usr/local/share/tool"))
	if err != nil {
		t.Fatal(err)
	}
	if uid, gid := owner(fi); uid != 1000 || gid != 1000 || fi.Mode().Perm() != 0o750 {
		t.Errorf("tool: %d:%d %v, want 1000:1000 0750", uid, gid, fi.Mode())
	}
	if fi, err := os.Stat(filepath.Join(root, "usr/local")); err != nil {
		t.Fatal(err)
	} else if uid, _ := owner(fi); uid != 1000 {
		t.Errorf("created parent usr/local owned by %d, want 1000 (chown applies to created parents)", uid)
	}
	cf, _ := img.ConfigFile()
	if _, ok := cf.Config.ExposedPorts["8080/tcp"]; !ok || cf.Config.Labels["a"] != "b" || cf.OS != "linux" || cf.Architecture == "" {
		t.Errorf("config = %+v", cf.Config)
	}
}

func TestCopyLinkWritesParents(t *testing.T) {
	base := requireRuntime(t)
	ctxDir := t.TempDir()
	writeFiles(t, ctxDir, map[string]string{"conf": "x\n"})
	plain := contextCopy(t, ctxDir, []string{"conf"}, "/etc/conf")
	linked := contextCopy(t, ctxDir, []string{"conf"}, "/etc/linked")
	linked.Link = true
	out := filepath.Join(t.TempDir(), "out")
	p := &ir.Plan{Project: "link", Targets: []*ir.Target{target("app", busyboxBase(base), layerOf("plain", plain), layerOf("linked", linked))}}
	if _, _, err := build(t, openStore(t), p, engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}}); err != nil {
		t.Fatal(err)
	}
	img := layoutImage(t, out, "app")
	files := layerFiles(t, img)
	if diff := cmp.Diff([][]string{{"etc/", "etc/conf"}, {"etc/", "etc/linked"}}, files[1:]); diff != "" {
		t.Errorf("layers (-want +got):\n%s", diff)
	}
	// Without link, the existing etc keeps the base's metadata; with link
	// it is a new directory.
	layers, _ := img.Layers()
	for i, wantBase := range []bool{true, false} {
		rc, err := layers[i+1].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		h, err := tar.NewReader(rc).Next()
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := h.ModTime.Equal(testbase.Epoch); got != wantBase {
			t.Errorf("layer %d: etc/ mtime %v; base's (%v) wanted: %v", i+1, h.ModTime, testbase.Epoch, wantBase)
		}
	}
}

func TestCopyKeepsParentMetadataForLaterSteps(t *testing.T) {
	base := requireRuntime(t)
	ctxDir := t.TempDir()
	writeFiles(t, ctxDir, map[string]string{"x": "x\n"})
	// Run as nobody after a copy into /tmp: /tmp must still be 1777.
	write := sh("echo y > /tmp/y && stat -c %a /tmp > /tmp/mode")
	write.User = "nobody"
	p := &ir.Plan{Project: "parents", Targets: []*ir.Target{target("app", busyboxBase(base),
		layerOf("copy", contextCopy(t, ctxDir, []string{"x"}, "/tmp/x")),
		layerOf("write", write),
	)}}
	out := filepath.Join(t.TempDir(), "out")
	if _, _, err := build(t, openStore(t), p, engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}}); err != nil {
		t.Fatal(err)
	}
	root := testbase.Rootfs(t, layoutImage(t, out, "app"))
	if got, _ := os.ReadFile(filepath.Join(root, "tmp/mode")); string(got) != "1777\n" {
		t.Errorf("a later step saw /tmp with mode %q, want 1777", got)
	}
}

func TestCopyFollowsDestinationSymlinks(t *testing.T) {
	base := requireRuntime(t)
	ctxDir := t.TempDir()
	writeFiles(t, ctxDir, map[string]string{"conf": "x\n", "dir/a": "a\n"})
	out := filepath.Join(t.TempDir(), "out")
	p := &ir.Plan{Project: "symlinks", Targets: []*ir.Target{target("app", busyboxBase(base),
		layerOf("merged usr", sh("mkdir -p /usr/lib && ln -s usr/lib /lib")),
		layerOf("copy", contextCopy(t, ctxDir, []string{"conf"}, "/lib/"), contextCopy(t, ctxDir, []string{"dir"}, "/lib/dir/")),
		layerOf("mixed", sh("true"), contextCopy(t, ctxDir, []string{"conf"}, "/lib/mixed/conf")),
	)}}
	if _, _, err := build(t, openStore(t), p, engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}}); err != nil {
		t.Fatal(err)
	}
	img := layoutImage(t, out, "app")
	files := layerFiles(t, img)
	want := [][]string{{"usr/", "usr/lib/", "usr/lib/conf", "usr/lib/dir/", "usr/lib/dir/a"}, {"usr/", "usr/lib/", "usr/lib/mixed/", "usr/lib/mixed/conf"}}
	if diff := cmp.Diff(want, files[2:]); diff != "" {
		t.Errorf("layers (-want +got):\n%s", diff)
	}
	root := testbase.Rootfs(t, img)
	if got, err := os.ReadFile(filepath.Join(root, "usr/lib/dir/a")); err != nil || string(got) != "a\n" {
		t.Errorf("usr/lib/dir/a = %q, %v", got, err)
	}
}

// TestCopyTakesPlannedMtime checks that a copied file's entry gets the
// mtime the plan stat'ed (ir.CopyFile.ModTime), so the build stats it no
// second time, and the file's own mtime when the plan has none (a saved
// plan's files).
func TestCopyTakesPlannedMtime(t *testing.T) {
	base := requireRuntime(t)
	ctxDir := t.TempDir()
	writeFiles(t, ctxDir, map[string]string{"conf": "x=1\n"})
	onDisk, planned := time.Unix(1600000000, 0).UTC(), time.Unix(1500000000, 0).UTC()
	if err := os.Chtimes(filepath.Join(ctxDir, "conf"), onDisk, onDisk); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		modTime time.Time
		want    time.Time
	}{{"planned", planned, planned}, {"saved plan", time.Time{}, onDisk}} {
		t.Run(tc.name, func(t *testing.T) {
			cp := contextCopy(t, ctxDir, []string{"conf"}, "/etc/conf")
			cp.Files[0].ModTime = tc.modTime
			out := filepath.Join(t.TempDir(), "out")
			p := &ir.Plan{Project: "mtime", Targets: []*ir.Target{target("app", busyboxBase(base), layerOf("copy", cp))}}
			if _, _, err := build(t, openStore(t), p, engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}}); err != nil {
				t.Fatal(err)
			}
			layers, _ := layoutImage(t, out, "app").Layers()
			rc, err := layers[1].Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			tr := tar.NewReader(rc)
			for {
				h, err := tr.Next()
				if err != nil {
					t.Fatalf("no etc/conf in the layer: %v", err)
				}
				if h.Name == "etc/conf" {
					if !h.ModTime.Equal(tc.want) {
						t.Errorf("etc/conf mtime %v, want %v", h.ModTime.UTC(), tc.want)
					}
					return
				}
			}
		})
	}
}

// TestRunRecreatedDirKeepsEmptyDirs: a step that deletes a directory and
// makes it again with the same empty subdirectories as before writes
// them into its layer (they were dropped as copied up, and the image,
// unlike the build's own snapshots, lacked them).
func TestRunRecreatedDirKeepsEmptyDirs(t *testing.T) {
	base := requireRuntime(t)
	out := filepath.Join(t.TempDir(), "out")
	p := &ir.Plan{Project: "recreate", Targets: []*ir.Target{target("app", busyboxBase(base),
		layerOf("one", sh("mkdir -p /app/logs /app/cache && echo v1 > /app/version")),
		layerOf("two", sh("rm -rf /app && mkdir -p /app/logs /app/cache && echo v2 > /app/version")))}}
	if _, _, err := build(t, openStore(t), p, engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}}); err != nil {
		t.Fatal(err)
	}
	files := layerFiles(t, layoutImage(t, out, "app"))
	want := []string{"app/", "app/.wh..wh..opq", "app/cache/", "app/logs/", "app/version"}
	if diff := cmp.Diff(want, files[2]); diff != "" {
		t.Errorf("second step's layer (-want +got):\n%s", diff)
	}
}

// TestCopySymbolicChmod: a symbolic chmod applies to each source file's
// own mode, as BuildKit applies it (COPY --chmod=a+x keeps 0600 files
// private but executable).
func TestCopySymbolicChmod(t *testing.T) {
	testbase.Require(t)
	ctxDir := t.TempDir()
	writeFiles(t, ctxDir, map[string]string{"private": "p", "shared": "s"})
	os.Chmod(filepath.Join(ctxDir, "private"), 0o600)
	os.Chmod(filepath.Join(ctxDir, "shared"), 0o644)
	var layers []*ir.Layer
	for i, chmod := range []string{"u+x", "u=rwx,g=rx,o="} {
		cp := contextCopy(t, ctxDir, []string{"private", "shared"}, fmt.Sprintf("/d%d/", i))
		cp.Chmod = chmod
		layers = append(layers, layerOf(chmod, cp))
	}
	tg := target("scratch", ir.Base{Kind: ir.BaseScratch, Key: ir.KeyOf([]byte("scratch"))}, layers...)
	out := filepath.Join(t.TempDir(), "out")
	if _, _, err := build(t, openStore(t), &ir.Plan{Project: "chmod", Targets: []*ir.Target{tg}}, engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}}); err != nil {
		t.Fatal(err)
	}
	root := testbase.Rootfs(t, layoutImage(t, out, "scratch"))
	for p, want := range map[string]fs.FileMode{"d0/private": 0o700, "d0/shared": 0o744, "d1/private": 0o750, "d1/shared": 0o750} {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
}

// TestCopyFileOntoDirectory: a file copied to a destination without a
// trailing "/" where the image has a directory, or a symlink to one,
// lands in it, as in BuildKit (COPY app /usr/local/bin); it replaced the
// directory.
func TestCopyFileOntoDirectory(t *testing.T) {
	base := requireRuntime(t)
	ctxDir := t.TempDir()
	writeFiles(t, ctxDir, map[string]string{"tool": "t"})
	out := filepath.Join(t.TempDir(), "out")
	p := &ir.Plan{Project: "onto", Targets: []*ir.Target{target("app", busyboxBase(base),
		layerOf("dirs", sh("mkdir /plain /realdir && ln -s realdir /dirlink")),
		layerOf("to plain", contextCopy(t, ctxDir, []string{"tool"}, "/plain")),
		layerOf("to link", contextCopy(t, ctxDir, []string{"tool"}, "/dirlink")),
		layerOf("to new", contextCopy(t, ctxDir, []string{"tool"}, "/new")))}}
	if _, _, err := build(t, openStore(t), p, engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}}); err != nil {
		t.Fatal(err)
	}
	files := layerFiles(t, layoutImage(t, out, "app"))
	want := [][]string{{"plain/", "plain/tool"}, {"realdir/", "realdir/tool"}, {"new"}}
	if diff := cmp.Diff(want, files[2:]); diff != "" {
		t.Errorf("copy layers (-want +got):\n%s", diff)
	}
}

// TestCopyInBaseWorkdir: a copy whose destination is relative to a
// working directory only the base image knows (ir.Copy.InWorkdir) lands
// below the base's working directory, as Docker's COPY go.mod . lands in
// golang's /go.
func TestCopyInBaseWorkdir(t *testing.T) {
	base := requireRuntime(t)
	ctxDir := t.TempDir()
	writeFiles(t, ctxDir, map[string]string{"go.mod": "module x\n"})
	basewd := target("basewd", busyboxBase(base), layerOf("wd", sh("mkdir -p /go")))
	basewd.Config = ir.ImageConfig{Workdir: "/go"}
	basewd.Kind, basewd.Output = ir.KindStage, false
	cp := contextCopy(t, ctxDir, []string{"go.mod"}, "/")
	cp.InWorkdir = true
	sub := contextCopy(t, ctxDir, []string{"go.mod"}, "/src/")
	sub.InWorkdir = true
	app := target("app", ir.Base{Kind: ir.BaseTarget, Target: "basewd"}, layerOf("copy", cp), layerOf("copy sub", sub))
	app.DependsOn = []string{"basewd"}
	out := filepath.Join(t.TempDir(), "out")
	p := &ir.Plan{Project: "inworkdir", Targets: []*ir.Target{basewd, app}}
	if _, _, err := build(t, openStore(t), p, engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}}); err != nil {
		t.Fatal(err)
	}
	files := layerFiles(t, layoutImage(t, out, "app"))
	want := [][]string{{"go/", "go/go.mod"}, {"go/", "go/src/", "go/src/go.mod"}}
	if diff := cmp.Diff(want, files[len(files)-2:]); diff != "" {
		t.Errorf("copy layers (-want +got):\n%s", diff)
	}
}
