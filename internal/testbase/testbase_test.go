package testbase

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func TestBusybox(t *testing.T) {
	img := BusyboxImage(t)
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate.Image: %v", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	if mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type = %s, want %s", mt, types.OCIManifestSchema1)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"sh"}, cf.Config.Cmd); diff != "" {
		t.Errorf("Cmd (-want +got):\n%s", diff)
	}
	root := Rootfs(t, img)
	target, err := os.Readlink(filepath.Join(root, "bin/sh"))
	if err != nil {
		t.Fatal(err)
	}
	if target != "/bin/busybox" {
		t.Errorf("bin/sh -> %s, want /bin/busybox", target)
	}
	fi, err := os.Stat(filepath.Join(root, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("tmp mode = %v, want sticky 0777", fi.Mode())
	}
	// Same image in a second process-independent build: deterministic.
	again, err := BusyboxV1Image()
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("busybox image not deterministic: %s vs %s", d1, d2)
	}
}
