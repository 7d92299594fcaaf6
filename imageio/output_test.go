package imageio_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// storedImages puts two small images and an index of both into a fresh
// store and returns it with their digests.
func storedImages(t testing.TB) (*store.Store, []v1.Hash) {
	t.Helper()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out []v1.Hash
	var plats []imageio.PlatformManifest
	for i, content := range []string{"one\n", strings.Repeat("two ", 5000)} {
		img := smallImage(t, content)
		dir := writeLayout(t, img)
		b := ir.Base{Kind: ir.BaseOCILayout, Ref: imageref.MustParse("oci:" + dir), Key: ir.KeyOf([]byte(dir)), Origin: ir.Origin{File: "t.image.hcl", Line: 1}}
		if _, _, err := imageio.PullBase(context.Background(), s, b, platform); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		raw, _ := img.RawManifest()
		mt, _ := img.MediaType()
		out = append(out, d)
		arch := []string{"amd64", "arm64"}[i]
		plats = append(plats, imageio.PlatformManifest{Platform: ir.Platform{OS: "linux", Architecture: arch}, Desc: v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: d}})
	}
	idx, err := imageio.WriteIndex(s, plats)
	if err != nil {
		t.Fatal(err)
	}
	return s, append(out, idx.Digest)
}

// dirFiles reads every regular file under dir, by slash path.
func dirFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tarFiles reads every regular file of the tar at p, and its entry names
// in order.
func tarFiles(t *testing.T, p string) (map[string]string, []string) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Typeflag == tar.TypeReg {
			data, _ := io.ReadAll(tr)
			out[h.Name] = string(data)
		}
	}
	return out, names
}

// The archive holds exactly the files of the layout written for the same
// images, index.json byte for byte, in sorted order.
func TestLayoutArchiveIsTheLayout(t *testing.T) {
	s, ds := storedImages(t)
	imgs := []imageio.Image{{Digest: ds[0], Names: []string{"a:1", "a:2"}}, {Digest: ds[2], Names: []string{"multi"}}, {Digest: ds[1], Names: []string{"a:2"}}}
	dir := t.TempDir()
	if err := imageio.WriteOutput(s, "oci", filepath.Join(dir, "layout"), imgs); err != nil {
		t.Fatal(err)
	}
	if err := imageio.WriteOutput(s, "oci-archive", filepath.Join(dir, "out.tar"), imgs); err != nil {
		t.Fatal(err)
	}
	got, names := tarFiles(t, filepath.Join(dir, "out.tar"))
	if diff := cmp.Diff(dirFiles(t, filepath.Join(dir, "layout")), got); diff != "" {
		t.Errorf("archive differs from the layout (-layout +archive):\n%s", diff)
	}
	if names[0] != "blobs/" || names[1] != "blobs/sha256/" || names[len(names)-2] != "index.json" || names[len(names)-1] != "oci-layout" {
		t.Errorf("entries in the order %q", names)
	}
	// What go-containerregistry and the rest of imgc read back.
	s2, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := imageio.Load(s2, filepath.Join(dir, "out.tar"), ir.Platform{OS: "linux", Architecture: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 3 || loaded[0].Digest != ds[0].String() || loaded[2].Digest != ds[1].String() {
		t.Errorf("loaded %+v", loaded)
	}
}

// A layout's layers share the store's blobs where the filesystem allows
// (a reflink or a hard link) and are copied where not; they are the
// stored bytes either way.
func TestLayoutLinksLayers(t *testing.T) {
	s, ds := storedImages(t)
	img, err := s.Image(ds[1])
	if err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	dir := filepath.Join(t.TempDir(), "layout")
	if err := imageio.WriteOutput(s, "oci", dir, []imageio.Image{{Digest: ds[1], Names: []string{"b"}}}); err != nil {
		t.Fatal(err)
	}
	l := m.Layers[0].Digest
	want, _ := os.ReadFile(s.BlobPath(l))
	got, err := os.ReadFile(filepath.Join(dir, "blobs", l.Algorithm, l.Hex))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("layer in the layout differs from the stored blob (%v)", err)
	}
	// On one filesystem without reflinks (ext4, tmpfs), a hard link.
	si, _ := os.Stat(s.BlobPath(l))
	li, _ := os.Stat(filepath.Join(dir, "blobs", l.Algorithm, l.Hex))
	sameDev := si.Sys().(*syscall.Stat_t).Dev == li.Sys().(*syscall.Stat_t).Dev
	if sameDev && !canReflink(t, filepath.Dir(s.BlobPath(l))) && !os.SameFile(si, li) {
		t.Error("layer copied into a layout on the store's filesystem, not linked")
	}
}

// canReflink tells whether the filesystem of dir clones files (FICLONE).
func canReflink(t *testing.T, dir string) bool {
	a, err := os.CreateTemp(dir, "reflink-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(a.Name())
	defer a.Close()
	a.WriteString("x")
	b, err := os.CreateTemp(dir, "reflink-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(b.Name())
	defer b.Close()
	return unix.IoctlFileClone(int(b.Fd()), int(a.Fd())) == nil
}

// An export is skipped while its destination holds what it last wrote,
// and written again after any change to it.
func TestExportSkippedWhileUnchanged(t *testing.T) {
	s, ds := storedImages(t)
	imgs := []imageio.Image{{Digest: ds[0], Names: []string{"a"}}}
	dir := t.TempDir()
	for _, typ := range []string{"oci-archive", "docker", "oci"} {
		t.Run(typ, func(t *testing.T) {
			dest := filepath.Join(dir, typ)
			file := dest
			if typ == "oci" {
				file = filepath.Join(dest, "index.json")
			}
			write := func() bool {
				t.Helper()
				wrote, err := imageio.WriteOutputIfChanged(s, typ, dest, imgs)
				if err != nil {
					t.Fatal(err)
				}
				return wrote
			}
			if !write() {
				t.Fatal("first export not written")
			}
			first, _ := os.ReadFile(file)
			if write() {
				t.Error("unchanged export written again")
			}
			// Same size, same mtime, new content: the change time tells.
			st, _ := os.Stat(file)
			data := bytes.Clone(first)
			if typ == "oci" {
				data = bytes.Replace(data, []byte(`": "a"`), []byte(`": "b"`), 1)
			} else {
				data[len(data)-3] ^= 1
			}
			if err := os.WriteFile(file, data, 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(file, time.Time{}, st.ModTime())
			if !write() {
				t.Error("changed export not written again")
			}
			if again, _ := os.ReadFile(file); typ != "oci" && !bytes.Equal(again, first) {
				t.Error("export written again differs from the first")
			}
			os.Remove(file)
			if !write() {
				t.Error("removed export not written again")
			}
			if wrote, err := imageio.WriteOutputIfChanged(s, typ, dest, []imageio.Image{{Digest: ds[0], Names: []string{"other"}}}); err != nil || !wrote {
				t.Errorf("export of other names not written (%v)", err)
			}
		})
	}
}

// The docker tarball is byte for byte what go-containerregistry writes
// for one image, and holds the same files for several.
func TestDockerOutputIsGoContainerregistrys(t *testing.T) {
	s, ds := storedImages(t)
	dir := t.TempDir()
	for _, c := range []struct {
		name  string
		imgs  []imageio.Image
		exact bool
	}{
		{"one", []imageio.Image{{Digest: ds[1], Names: []string{"x/b:1"}}}, true},
		{"latest", []imageio.Image{{Digest: ds[0], Names: []string{"app"}}}, true},
		{"several", []imageio.Image{{Digest: ds[0], Names: []string{"a:1", "z:2"}}, {Digest: ds[1], Names: []string{"b", "z:2"}}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dest := filepath.Join(dir, c.name+".tar")
			if err := imageio.WriteOutput(s, "docker", dest, c.imgs); err != nil {
				t.Fatal(err)
			}
			refs := map[name.Reference]v1.Image{}
			for _, bi := range c.imgs {
				img, err := s.Image(bi.Digest)
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range bi.Names {
					tag, err := name.NewTag(n)
					if err != nil {
						t.Fatal(err)
					}
					refs[tag] = img
				}
			}
			var want bytes.Buffer
			if err := tarball.MultiRefWrite(refs, &want); err != nil {
				t.Fatal(err)
			}
			wantPath := filepath.Join(dir, c.name+"-ggcr.tar")
			os.WriteFile(wantPath, want.Bytes(), 0o644)
			got, _ := os.ReadFile(dest)
			if c.exact && !bytes.Equal(got, want.Bytes()) {
				t.Error("docker tarball differs from go-containerregistry's")
			}
			gotFiles, _ := tarFiles(t, dest)
			wantFiles, _ := tarFiles(t, wantPath)
			if c.exact {
				if diff := cmp.Diff(wantFiles, gotFiles); diff != "" {
					t.Errorf("files differ (-ggcr +imgc):\n%s", diff)
				}
			} else {
				delete(gotFiles, "manifest.json")
				delete(wantFiles, "manifest.json")
				if diff := cmp.Diff(wantFiles, gotFiles); diff != "" {
					t.Errorf("files differ (-ggcr +imgc):\n%s", diff)
				}
				m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(dest) })
				if err != nil {
					t.Fatal(err)
				}
				var tags [][]string
				for _, d := range m {
					tags = append(tags, d.RepoTags)
				}
				if diff := cmp.Diff([][]string{{"a:1"}, {"b:latest", "z:2"}}, tags); diff != "" {
					t.Errorf("tags (-want +got):\n%s", diff)
				}
			}
			img, err := tarball.ImageFromPath(dest, nil)
			if c.exact && err != nil {
				t.Fatal(err)
			}
			if c.exact {
				if err := validate.Image(img); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// A failed export leaves the earlier output as it was.
func TestFailedArchiveKeepsOldOutput(t *testing.T) {
	s, ds := storedImages(t)
	dest := filepath.Join(t.TempDir(), "out.tar")
	if err := imageio.WriteOutput(s, "oci-archive", dest, []imageio.Image{{Digest: ds[0], Names: []string{"a"}}}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(dest)
	img, _ := s.Image(ds[1])
	m, _ := img.Manifest()
	os.Remove(s.BlobPath(m.Layers[0].Digest))
	if err := imageio.WriteOutput(s, "oci-archive", dest, []imageio.Image{{Digest: ds[1], Names: []string{"a"}}}); err == nil {
		t.Fatal("export of an image missing a blob succeeded")
	}
	if after, _ := os.ReadFile(dest); !bytes.Equal(after, before) {
		t.Error("failed export changed the earlier output")
	}
	des, _ := os.ReadDir(filepath.Dir(dest))
	if len(des) != 1 {
		t.Errorf("failed export left %d files", len(des))
	}
}

// rewriteTar copies the tar at src to dst, passing each entry's content
// through edit, and adding the entries of extra at the end.
func rewriteTar(t *testing.T, src, dst string, edit func(name string, data []byte) []byte, extra map[string]string) {
	t.Helper()
	files, names := tarFiles(t, src)
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	tw := tar.NewWriter(out)
	for _, n := range names {
		data, ok := files[n]
		if !ok {
			tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeDir, Mode: 0o755})
			continue
		}
		b := edit(n, []byte(data))
		tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))})
		tw.Write(b)
	}
	for n, data := range extra {
		tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))})
		tw.Write([]byte(data))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// Loading a layout archive reads its blobs in place and still verifies
// each against its digest; a name given twice is refused.
func TestLoadLayoutArchiveVerifies(t *testing.T) {
	s, ds := storedImages(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.tar")
	if err := imageio.WriteOutput(s, "oci-archive", good, []imageio.Image{{Digest: ds[1], Names: []string{"b"}}}); err != nil {
		t.Fatal(err)
	}
	img, _ := s.Image(ds[1])
	cfg, _ := img.ConfigName()
	tampered := filepath.Join(dir, "tampered.tar")
	rewriteTar(t, good, tampered, func(n string, b []byte) []byte {
		if n == "blobs/sha256/"+cfg.Hex {
			return bytes.Replace(b, []byte("A=1"), []byte("A=2"), 1)
		}
		return b
	}, nil)
	twice := filepath.Join(dir, "twice.tar")
	rewriteTar(t, good, twice, func(_ string, b []byte) []byte { return b }, map[string]string{"index.json": "{}"})
	for _, c := range []struct{ path, want string }{{tampered, "hashes to"}, {twice, "index.json twice"}} {
		s2, err := store.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := imageio.Load(s2, c.path, platform); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("loading %s: %v, want an error saying %q", filepath.Base(c.path), err, c.want)
		}
	}
	s2, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if loaded, err := imageio.Load(s2, good, platform); err != nil || len(loaded) != 1 || loaded[0].Digest != ds[1].String() {
		t.Errorf("loading the archive: %+v, %v", loaded, err)
	}
}

// BenchmarkWriteOutput writes each output type of a stored image with a
// 32 MiB layer afresh (the destination removed first), and again
// unchanged (skipped).
func BenchmarkWriteOutput(b *testing.B) {
	s, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	img := smallImage(b, strings.Repeat("imgc layer data\n", 2<<20))
	dir := writeLayout(b, img)
	base := ir.Base{Kind: ir.BaseOCILayout, Ref: imageref.MustParse("oci:" + dir), Key: ir.KeyOf([]byte(dir)), Origin: ir.Origin{File: "t.image.hcl", Line: 1}}
	if _, _, err := imageio.PullBase(context.Background(), s, base, platform); err != nil {
		b.Fatal(err)
	}
	d, _ := img.Digest()
	imgs := []imageio.Image{{Digest: d, Names: []string{"app"}}}
	out := b.TempDir()
	for _, typ := range []string{"oci", "oci-archive", "docker"} {
		dest := filepath.Join(out, typ)
		b.Run(typ+"/fresh", func(b *testing.B) {
			for b.Loop() {
				os.RemoveAll(dest)
				if err := imageio.WriteOutput(s, typ, dest, imgs); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(typ+"/unchanged", func(b *testing.B) {
			for b.Loop() {
				if err := imageio.WriteOutput(s, typ, dest, imgs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// imgc save to a file writes what go-containerregistry writes, byte for
// byte, and to another writer the same.
func TestSaveIsGoContainerregistrys(t *testing.T) {
	s, ds := storedImages(t)
	img, _ := s.Image(ds[1])
	raw, _ := img.RawManifest()
	mt, _ := img.MediaType()
	if err := s.TagImages(v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: ds[1]}, []string{"x/b:1"}); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := tarball.Write(name.MustParseReference("x/b:1").(name.Tag), img, &want); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "save.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := imageio.Save(s, "x/b:1", f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var buf bytes.Buffer
	if err := imageio.Save(s, "x/b:1", &buf); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, want.Bytes()) || !bytes.Equal(buf.Bytes(), want.Bytes()) {
		t.Error("imgc save differs from go-containerregistry's tarball")
	}
}
