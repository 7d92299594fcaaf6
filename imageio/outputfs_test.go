package imageio_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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
