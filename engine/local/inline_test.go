package local_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/internal/testbase"
	"github.com/imgc-dev/imgc/ir"
)

// inlineCopy is a copy of inline content as the compiler lowers one.
func inlineCopy(name, content, dest string) *ir.Copy {
	sum := sha256.Sum256([]byte(content))
	dst := dest
	if strings.HasSuffix(dest, "/") {
		dst = path.Join(dest, name)
	}
	return &ir.Copy{Sources: []string{name}, Dest: dest, Content: &content, Origin: origin(),
		Files: []ir.CopyFile{{Src: name, Dst: dst, Mode: 0o644, Size: int64(len(content)), Digest: "sha256:" + hex.EncodeToString(sum[:])}}}
}

// fileState is what a test checks of an image file.
type fileState struct {
	Content  string
	Mode     os.FileMode
	UID, GID int
}

func statFile(t *testing.T, root, p string) fileState {
	t.Helper()
	fi, err := os.Lstat(filepath.Join(root, p))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, p))
	if err != nil {
		t.Fatal(err)
	}
	uid, gid := owner(fi)
	return fileState{Content: string(data), Mode: fi.Mode(), UID: uid, GID: gid}
}

func TestInlineCopyIntoScratch(t *testing.T) {
	// No runc or overlay needed: no container runs for inline files.
	testbase.Require(t)
	plain := inlineCopy("EOF", "greeting=hello\n", "/etc/app.conf")
	owned := inlineCopy("B", "secret\n", "/etc/d/")
	owned.Chown, owned.Chmod = "1000:1000", "0600"
	tg := target("bare", ir.Base{Kind: ir.BaseScratch, Key: ir.KeyOf([]byte("scratch"))}, layerOf("files", plain, owned))
	out := filepath.Join(t.TempDir(), "out")
	if _, _, err := build(t, openStore(t), &ir.Plan{Project: "inline", Targets: []*ir.Target{tg}}, engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}}); err != nil {
		t.Fatal(err)
	}
	img := layoutImage(t, out, "bare")
	if diff := cmp.Diff([][]string{{"etc/", "etc/app.conf", "etc/d/", "etc/d/B"}}, layerFiles(t, img)); diff != "" {
		t.Errorf("layers (-want +got):\n%s", diff)
	}
	root := testbase.Rootfs(t, img)
	got := map[string]fileState{"/etc/app.conf": statFile(t, root, "etc/app.conf"), "/etc/d/B": statFile(t, root, "etc/d/B")}
	want := map[string]fileState{
		"/etc/app.conf": {Content: "greeting=hello\n", Mode: 0o644},
		"/etc/d/B":      {Content: "secret\n", Mode: 0o600, UID: 1000, GID: 1000},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if fi, err := os.Stat(filepath.Join(root, "etc/d")); err != nil {
		t.Fatal(err)
	} else if uid, gid := owner(fi); uid != 1000 || gid != 1000 || fi.Mode().Perm() != 0o755 {
		t.Errorf("created parent /etc/d: %d:%d %v, want 1000:1000 0755", uid, gid, fi.Mode())
	}
}

func TestInlineCopyIntoExistingDirectory(t *testing.T) {
	base := requireRuntime(t)
	// /etc is a directory of the base: the file lands in it under its
	// name, as BuildKit's copy does; /etc/motd is no directory, so it is
	// the file. A run step in the same layer sees both.
	intoDir := inlineCopy("EOF", "in /etc\n", "/etc")
	asFile := inlineCopy("EOF", "motd\n", "/etc/motd")
	check := sh("cat /etc/EOF /etc/motd > /seen")
	p := &ir.Plan{Project: "inline", Targets: []*ir.Target{target("app", busyboxBase(base),
		layerOf("copies", intoDir),
		layerOf("mixed", asFile, check),
	)}}
	out := filepath.Join(t.TempDir(), "out")
	if _, _, err := build(t, openStore(t), p, engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}}); err != nil {
		t.Fatal(err)
	}
	root := testbase.Rootfs(t, layoutImage(t, out, "app"))
	got := map[string]fileState{"/etc/EOF": statFile(t, root, "etc/EOF"), "/seen": statFile(t, root, "seen")}
	want := map[string]fileState{
		"/etc/EOF": {Content: "in /etc\n", Mode: 0o644},
		"/seen":    {Content: "in /etc\nmotd\n", Mode: 0o644},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}
