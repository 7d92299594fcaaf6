package testbase

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgc-dev/imgc/internal/chmod"
)

// BusyboxPath is where the host's statically linked busybox is expected.
const BusyboxPath = "/bin/busybox"

// Epoch is the modification time of every file in the busybox image and its
// creation time, so the image is the same in every test process.
var Epoch = time.Unix(1700000000, 0).UTC()

// DefaultPath is the PATH of the busybox image's config.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

var (
	once      sync.Once
	layoutDir string
	onceErr   error
)

// Busybox returns the path of an OCI image layout holding one image tagged
// "latest": /bin/busybox, its applet symlinks, /etc/passwd and /etc/group
// (root and nobody), /tmp with mode 1777, Cmd ["sh"] and a standard PATH.
// The layout is made once per host busybox in the temporary directory and
// shared by every test process; callers must not modify it.
// It skips the test when not running as root or when /bin/busybox is missing.
func Busybox(t testing.TB) string {
	t.Helper()
	Require(t)
	once.Do(func() {
		layoutDir, onceErr = makeBusyboxLayout()
	})
	if onceErr != nil {
		t.Fatalf("making the busybox test base: %v", onceErr)
	}
	return layoutDir
}

// Require skips the test unless it runs as root on a host with a static
// busybox at /bin/busybox.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root (runc, overlayfs and files owned by root)")
	}
	if _, err := os.Stat(BusyboxPath); err != nil {
		t.Skipf("skipping: needs a static busybox at %s (Debian package busybox-static): %v", BusyboxPath, err)
	}
}

// BusyboxImage returns the busybox image of Busybox as a v1.Image.
func BusyboxImage(t testing.TB) v1.Image {
	t.Helper()
	return LayoutImage(t, Busybox(t), "latest")
}

// LayoutImage reads the image named tag (its org.opencontainers.image.ref.name
// annotation) from the OCI layout at dir.
func LayoutImage(t testing.TB, dir, tag string) v1.Image {
	t.Helper()
	img, err := FindLayoutImage(dir, tag)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// FindLayoutImage is LayoutImage without a testing.TB.
func FindLayoutImage(dir, tag string) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("opening layout %s: %w", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("reading index of %s: %w", dir, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading index manifest of %s: %w", dir, err)
	}
	var names []string
	for _, d := range m.Manifests {
		name := d.Annotations["org.opencontainers.image.ref.name"]
		if name == tag {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("reading image %s from %s: %w", tag, dir, err)
			}
			return img, nil
		}
		names = append(names, name)
	}
	return nil, fmt.Errorf("layout %s has no image named %q (it has %q)", dir, tag, names)
}

// Rootfs unpacks img's merged filesystem (every layer applied in order,
// whiteouts honoured) into a new temporary directory and returns it.
func Rootfs(t testing.TB, img v1.Image) string {
	t.Helper()
	dir := t.TempDir()
	if err := Unpack(img, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Unpack writes img's merged filesystem into dir. It trusts the image.
func Unpack(img v1.Image, dir string) error {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	type dirTime struct {
		path string
		mt   time.Time
	}
	var dirs []dirTime
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading merged filesystem: %w", err)
		}
		name := path.Clean("/" + h.Name)
		if name == "/" {
			continue
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		mode := chmod.FromUnix(uint32(h.Mode & 0o7777))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			dirs = append(dirs, dirTime{dst, h.ModTime})
		case tar.TypeReg:
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		case tar.TypeSymlink:
			os.Remove(dst)
			if err := os.Symlink(h.Linkname, dst); err != nil {
				return err
			}
			if err := os.Lchown(dst, h.Uid, h.Gid); err != nil {
				return err
			}
			continue
		case tar.TypeLink:
			os.Remove(dst)
			if err := os.Link(filepath.Join(dir, filepath.FromSlash(path.Clean("/"+h.Linkname))), dst); err != nil {
				return err
			}
			continue
		default:
			// Devices and fifos are not needed by assertions.
			continue
		}
		if err := os.Chown(dst, h.Uid, h.Gid); err != nil {
			return err
		}
		if err := os.Chmod(dst, mode); err != nil {
			return err
		}
		if err := os.Chtimes(dst, h.ModTime, h.ModTime); err != nil {
			return err
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Chtimes(dirs[i].path, dirs[i].mt, dirs[i].mt)
	}
	return nil
}

type entry struct {
	hdr  tar.Header
	data []byte
}

// BusyboxLayerTar returns the uncompressed layer of the busybox image: a
// deterministic tar (sorted, numeric owners, fixed mtimes).
func BusyboxLayerTar() ([]byte, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("reading busybox: %w", err)
	}
	return busyboxLayerTar(bin)
}

// busyboxLayerTar is the busybox layer around the busybox binary bin (of
// any architecture): its applet links are the host busybox's, which is the
// same Debian build for another architecture.
func busyboxLayerTar(bin []byte) ([]byte, error) {
	out, err := exec.Command(BusyboxPath, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("listing busybox applets: %w", err)
	}
	entries := map[string]*entry{}
	dir := func(name string, mode int64) {
		entries[name] = &entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode}}
	}
	file := func(name string, mode int64, data []byte) {
		entries[name] = &entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data))}, data: data}
	}
	for _, d := range []string{"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "var", "proc", "sys", "dev", "home"} {
		dir(d, 0o755)
	}
	dir("root", 0o700)
	dir("tmp", 0o1777)
	dir("var/tmp", 0o1777)
	file("bin/busybox", 0o755, bin)
	file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"))
	file("etc/group", 0o644, []byte("root:x:0:\nnobody:x:65534:\n"))
	file("etc/shadow", 0o640, []byte("root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n"))
	for _, line := range strings.Split(string(out), "\n") {
		name := strings.TrimSpace(line)
		if name == "" || name == "bin/busybox" || name == "linuxrc" {
			continue
		}
		if _, ok := entries[path.Dir(name)]; !ok {
			continue
		}
		entries[name] = &entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: "/bin/busybox", Mode: 0o777}}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		e := entries[n]
		e.hdr.ModTime = Epoch
		e.hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(&e.hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// BusyboxV1Image builds the busybox image in memory.
func BusyboxV1Image() (v1.Image, error) {
	data, err := BusyboxLayerTar()
	if err != nil {
		return nil, err
	}
	return busyboxImage(data, goruntime.GOARCH, "", BusyboxPath)
}

// busyboxImage is the busybox image of the layer tar data, for linux/arch
// (variant), its history naming where the binary came from.
func busyboxImage(data []byte, arch, variant, from string) (v1.Image, error) {
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("making busybox layer: %w", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: Epoch},
			CreatedBy: "imgc testbase: busybox from " + from,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("appending busybox layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = arch
	cf.Variant = variant
	cf.OS = "linux"
	cf.Created = v1.Time{Time: Epoch}
	cf.Config.Env = []string{"PATH=" + DefaultPath}
	cf.Config.Cmd = []string{"sh"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("setting busybox config: %w", err)
	}
	return img, nil
}

// layoutVersion changes whenever the image BusyboxV1Image makes changes, so
// that a shared layout of an older version is never reused.
const layoutVersion = "1"

// makeBusyboxLayout writes the layout once per host busybox and version,
// shared by every test process: it is built in a temporary directory and
// renamed into place, so concurrent test processes never see half of it.
func makeBusyboxLayout() (string, error) {
	data, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return "", fmt.Errorf("reading busybox: %w", err)
	}
	sum := sha256.Sum256(append([]byte(layoutVersion+"\x00"), data...))
	dir := filepath.Join(os.TempDir(), "imgc-testbase-busybox-"+hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err == nil {
		return dir, nil
	}
	img, err := BusyboxV1Image()
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(os.TempDir(), "imgc-testbase-tmp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return "", fmt.Errorf("writing layout: %w", err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": "latest",
	})); err != nil {
		return "", fmt.Errorf("writing busybox image: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another test process won the race: use its layout.
		if _, serr := os.Stat(filepath.Join(dir, "index.json")); serr == nil {
			return dir, nil
		}
		return "", fmt.Errorf("writing layout: %w", err)
	}
	return dir, nil
}
