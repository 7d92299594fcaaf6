package imageio_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

var platform = ir.Platform{OS: "linux", Architecture: runtime.GOARCH}

// smallImage is an OCI image with one gzip layer holding a file of
// content, and env A=1.
func smallImage(t testing.TB, content string) v1.Image {
	t.Helper()
	img := ociImage(t, tarLayer(t, [2]string{"file", content}))
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf.Config.Env = []string{"A=1"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func writeLayout(t testing.TB, img v1.Image) string {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "latest"})); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tamper replaces old by new (of the same length) in the layout's blob h.
func tamper(t testing.TB, dir string, h v1.Hash, old, new string) {
	t.Helper()
	p := filepath.Join(dir, "blobs", h.Algorithm, h.Hex)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("blob %s holds no %q", h, old)
	}
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// buildBase pulls b into a fresh store, as building a target of no layers
// on it does first.
func buildBase(t testing.TB, b ir.Base) error {
	t.Helper()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = imageio.PullBase(context.Background(), s, b, platform)
	return err
}

func TestLayoutBlobsAreVerified(t *testing.T) {
	img := smallImage(t, "hello")
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	md, _ := img.Digest()
	for _, tc := range []struct {
		name string
		edit func(t *testing.T, dir string)
		want []string
	}{
		{"intact", func(*testing.T, string) {}, nil},
		{"manifest tampered", func(t *testing.T, dir string) { tamper(t, dir, md, `"mediaType"`, `"mediaTypf"`) },
			[]string{"manifest " + md.String(), "hashes to"}},
		{"config tampered", func(t *testing.T, dir string) { tamper(t, dir, m.Config.Digest, "A=1", "A=2") },
			[]string{"config " + m.Config.Digest.String(), "hashes to"}},
		{"layer tampered", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "blobs", "sha256", m.Layers[0].Digest.Hex)
			data, _ := os.ReadFile(p)
			data[len(data)-5] ^= 1
			os.WriteFile(p, data, 0o644)
		}, []string{"layer " + m.Layers[0].Digest.String(), "hashes to"}},
		{"layer size wrong", func(t *testing.T, dir string) { relayer(t, dir, m, m.Layers[0].Size+1) },
			[]string{"layer " + m.Layers[0].Digest.String(), "bytes, its descriptor gives"}},
		{"layer size huge", func(t *testing.T, dir string) { relayer(t, dir, m, math.MaxInt64) },
			[]string{"layer " + m.Layers[0].Digest.String(), "bytes, its descriptor gives"}},
		{"index claims another size", func(t *testing.T, dir string) {
			data, _ := os.ReadFile(filepath.Join(dir, "index.json"))
			var idx v1.IndexManifest
			json.Unmarshal(data, &idx)
			idx.Manifests[0].Size--
			data, _ = json.Marshal(idx)
			os.WriteFile(filepath.Join(dir, "index.json"), data, 0o644)
		}, []string{"manifest " + md.String(), "larger than"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeLayout(t, img)
			tc.edit(t, dir)
			b := ir.Base{Kind: ir.BaseOCILayout, Ref: imageref.MustParse("oci:" + dir), Key: ir.KeyOf([]byte(dir)), Origin: ir.Origin{File: "t.image.hcl", Line: 1}}
			err := buildBase(t, b)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("an intact layout: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("the tampered layout was accepted")
			}
			t.Logf("error: %v", err)
			for _, w := range append(tc.want, "of layout "+dir) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q", w)
				}
			}
		})
	}
}

// relayer rewrites the layout's manifest m giving its layer the size
// size, and index.json to match: a consistent chain whose only lie is the
// layer's size.
func relayer(t *testing.T, dir string, m *v1.Manifest, size int64) {
	m2 := *m
	m2.Layers = append([]v1.Descriptor(nil), m.Layers...)
	m2.Layers[0].Size = size
	raw, _ := json.Marshal(m2)
	p, _ := layout.FromPath(dir)
	h, n, _ := v1.SHA256(bytes.NewReader(raw))
	if err := p.WriteBlob(h, io.NopCloser(bytes.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{{MediaType: types.OCIManifestSchema1, Digest: h, Size: n,
		Annotations: map[string]string{"org.opencontainers.image.ref.name": "latest"}}}}
	data, _ := json.Marshal(idx)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// rewriteArchive copies the docker archive src, replacing the content of
// the entries named in repl.
func rewriteArchive(t testing.TB, src string, repl map[string][]byte) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out := filepath.Join(t.TempDir(), "tampered.tar")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, tw := tar.NewReader(in), tar.NewWriter(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if r, ok := repl[hdr.Name]; ok {
			data = r
			delete(repl, hdr.Name)
		}
		hdr.Size = int64(len(data))
		tw.WriteHeader(hdr)
		tw.Write(data)
	}
	if len(repl) != 0 {
		t.Fatalf("no entries %v", repl)
	}
	tw.Close()
	return out
}

func TestDockerArchiveBlobsAreVerified(t *testing.T) {
	img := mutate.MediaType(smallImage(t, "hello"), types.DockerManifestSchema2)
	tag, _ := name.NewTag("small:latest")
	archive := filepath.Join(t.TempDir(), "small.tar")
	if err := tarball.WriteToFile(archive, tag, img); err != nil {
		t.Fatal(err)
	}
	mf, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(archive) })
	if err != nil {
		t.Fatal(err)
	}
	cfgName, layerName := mf[0].Config, mf[0].Layers[0]
	rawCfg, _ := img.RawConfigFile()
	other := smallImage(t, "HELLO")
	ol, _ := other.Layers()
	rc, _ := ol[0].Compressed()
	otherLayer, _ := io.ReadAll(rc)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("not a tar"))
	zw.Close()
	for _, tc := range []struct {
		name string
		repl map[string][]byte
		want []string
	}{
		{"intact", nil, nil},
		{"config tampered", map[string][]byte{cfgName: bytes.Replace(rawCfg, []byte("A=1"), []byte("A=2"), 1)}, []string{"config " + cfgName, "hashes to"}},
		{"layer tampered", map[string][]byte{layerName: otherLayer}, []string{"layer 1 of 1", "the config gives the diff id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := archive
			if tc.repl != nil {
				p = rewriteArchive(t, archive, tc.repl)
			}
			err := buildBase(t, ir.Base{Kind: ir.BaseDockerArchive, Ref: imageref.MustParse("docker-archive:" + p), Key: ir.KeyOf([]byte(p)), Origin: ir.Origin{File: "t.image.hcl", Line: 1}})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("an intact archive: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("the tampered archive was accepted")
			}
			t.Logf("error: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q", w)
				}
			}
		})
	}
}

// tarLayer is an OCI layer of the given entries, each a name and a
// content: a name ending in "/" is a directory, else a file.
func tarLayer(t testing.TB, entries ...[2]string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if strings.HasSuffix(e[0], "/") {
			tw.WriteHeader(&tar.Header{Name: e[0], Typeflag: tar.TypeDir, Mode: 0o755})
			continue
		}
		tw.WriteHeader(&tar.Header{Name: e[0], Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e[1]))})
		tw.Write([]byte(e[1]))
	}
	tw.Close()
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// ociImage is an image of layers with OCI media types.
func ociImage(t testing.TB, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1), layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
