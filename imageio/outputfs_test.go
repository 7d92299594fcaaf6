package imageio_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/ir"
)

// type=local writes the image's files, its layers applied in order (a
// whiteout removes a lower layer's file), into a directory, keeping what
// the directory held that the image does not have; type=tar writes the
// same files as one tar. An index gives each platform a directory.
func TestFilesystemOutputs(t *testing.T) {
	img := ociImage(t,
		tarLayer(t, [2]string{"app/", ""}, [2]string{"app/old.txt", "old"}, [2]string{"app/keep.txt", "keep"}),
		tarLayer(t, [2]string{"app/", ""}, [2]string{"app/.wh.old.txt", ""}, [2]string{"app/new.txt", "new"}))
	s, hs := storedImages(t)
	dir := writeLayout(t, img)
	b := ir.Base{Kind: ir.BaseOCILayout, Ref: imageref.MustParse("oci:" + dir), Key: ir.KeyOf([]byte(dir)), Origin: ir.Origin{File: "t.image.hcl", Line: 1}}
	if _, _, err := imageio.PullBase(context.Background(), s, b, platform); err != nil {
		t.Fatal(err)
	}
	h, _ := img.Digest()
	out := t.TempDir()
	want := map[string]string{"app/keep.txt": "keep", "app/new.txt": "new"}

	local := filepath.Join(out, "local")
	if err := imageio.WriteOutput(s, "local", local, []imageio.Image{{Digest: h}}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, dirFiles(t, local)); diff != "" {
		t.Errorf("type=local (-want +got):\n%s", diff)
	}

	mine := filepath.Join(out, "existing")
	os.MkdirAll(filepath.Join(mine, "app"), 0o755)
	os.WriteFile(filepath.Join(mine, "app", "mine.txt"), []byte("mine"), 0o644)
	os.WriteFile(filepath.Join(mine, "app", "new.txt"), []byte("stale"), 0o644)
	if err := imageio.WriteOutput(s, "local", mine, []imageio.Image{{Digest: h}}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"app/keep.txt": "keep", "app/new.txt": "new", "app/mine.txt": "mine"}, dirFiles(t, mine)); diff != "" {
		t.Errorf("type=local into a directory with files (-want +got):\n%s", diff)
	}
	if leftover, _ := filepath.Glob(filepath.Join(out, ".imgc-*")); len(leftover) != 0 {
		t.Errorf("temporary directories left: %v", leftover)
	}

	// An empty directory of the user's keeps its owner and mode.
	owned := filepath.Join(out, "owned")
	os.Mkdir(owned, 0o775)
	os.Chmod(owned, 0o775)
	if err := os.Chown(owned, 65534, 65534); err == nil {
		if err := imageio.WriteOutput(s, "local", owned, []imageio.Image{{Digest: h}}); err != nil {
			t.Fatal(err)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(owned, &st); err != nil || st.Uid != 65534 || st.Mode&0o777 != 0o775 {
			t.Errorf("the user's directory is now uid %d mode %o, want 65534 and 775", st.Uid, st.Mode&0o777)
		}
	}
	// A directory where the image has a file, or a symlink where it has a
	// directory, is an error, and nothing of the user's is removed or
	// followed.
	conflict := filepath.Join(out, "conflict")
	os.MkdirAll(filepath.Join(conflict, "app", "new.txt"), 0o755)
	os.WriteFile(filepath.Join(conflict, "app", "new.txt", "mine"), []byte("mine"), 0o644)
	if err := imageio.WriteOutput(s, "local", conflict, []imageio.Image{{Digest: h}}); err == nil || !strings.Contains(err.Error(), "is a directory, and the image has another kind of file there") {
		t.Errorf("a directory where the image has a file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(conflict, "app", "new.txt", "mine")); err != nil {
		t.Errorf("the user's file is gone: %v", err)
	}
	elsewhere := filepath.Join(out, "elsewhere")
	os.Mkdir(elsewhere, 0o755)
	linked := filepath.Join(out, "linked")
	os.Mkdir(linked, 0o755)
	os.Symlink(elsewhere, filepath.Join(linked, "app"))
	if err := imageio.WriteOutput(s, "local", linked, []imageio.Image{{Digest: h}}); err == nil {
		t.Error("a symlink where the image has a directory: no error")
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Errorf("the output followed the symlink: %s holds %d entries", elsewhere, len(entries))
	}
	// A mount point (another file system than its parent's).
	mnt := filepath.Join(out, "mnt")
	os.Mkdir(mnt, 0o755)
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, ""); err == nil {
		defer syscall.Unmount(mnt, 0)
		if err := imageio.WriteOutput(s, "local", mnt, []imageio.Image{{Digest: h}}); err != nil {
			t.Errorf("type=local to a mount point: %v", err)
		} else if diff := cmp.Diff(want, dirFiles(t, mnt)); diff != "" {
			t.Errorf("type=local to a mount point (-want +got):\n%s", diff)
		}
	}
	for _, d := range []string{out, owned, mnt} {
		if leftover, _ := filepath.Glob(filepath.Join(d, ".imgc-*")); len(leftover) != 0 {
			t.Errorf("temporary directories left: %v", leftover)
		}
	}

	tarPath := filepath.Join(out, "fs.tar")
	if err := imageio.WriteOutput(s, "tar", tarPath, []imageio.Image{{Digest: h}}); err != nil {
		t.Fatal(err)
	}
	files, names := tarFiles(t, tarPath)
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("type=tar (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"app/", "app/keep.txt", "app/new.txt"}, names); diff != "" {
		t.Errorf("type=tar entries (-want +got):\n%s", diff)
	}

	plat := filepath.Join(out, "platforms")
	if err := imageio.WriteOutput(s, "local", plat, []imageio.Image{{Digest: hs[2]}}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"linux_amd64/file": "one\n", "linux_arm64/file": strings.Repeat("two ", 5000)}, dirFiles(t, plat)); diff != "" {
		t.Errorf("type=local of an index (-want +got):\n%s", diff)
	}

	err := imageio.WriteOutput(s, "local", filepath.Join(out, "two"), []imageio.Image{{Digest: hs[0]}, {Digest: hs[1]}})
	if err == nil || !strings.Contains(err.Error(), "writes the files of one image") {
		t.Errorf("type=local of two images: %v", err)
	}
}
