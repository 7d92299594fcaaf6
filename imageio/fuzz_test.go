package imageio_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/ir"
)

// FuzzOCILayout reads a layout whose index.json, manifest and config are
// the fuzzer's (blobs stored under their own digests, so that they pass
// verification and reach the parsers): reading and importing it must fail
// or succeed, never panic.
func FuzzOCILayout(f *testing.F) {
	dir := writeLayout(f, smallImage(f, "hello"))
	idx, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	img := smallImage(f, "hello")
	man, _ := img.RawManifest()
	cfg, _ := img.RawConfigFile()
	f.Add(idx, man, cfg)
	f.Add([]byte(`{"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:`+fmt.Sprintf("%x", sha256.Sum256(man))+`","size":1}]}`), man, cfg)
	f.Add([]byte(`{"manifests":[{"digest":"sha256:../../etc","size":-1}]}`), []byte("{}"), []byte("{}"))
	f.Fuzz(func(t *testing.T, index, manifest, config []byte) {
		d := t.TempDir()
		os.MkdirAll(filepath.Join(d, "blobs", "sha256"), 0o755)
		os.WriteFile(filepath.Join(d, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
		os.WriteFile(filepath.Join(d, "index.json"), index, 0o644)
		for _, b := range [][]byte{manifest, config} {
			os.WriteFile(filepath.Join(d, "blobs", "sha256", fmt.Sprintf("%x", sha256.Sum256(b))), b, 0o644)
		}
		// The layers of the seed image, for manifests that name them.
		ls, _ := img.Layers()
		for _, l := range ls {
			h, _ := l.Digest()
			rc, _ := l.Compressed()
			var buf bytes.Buffer
			buf.ReadFrom(rc)
			os.WriteFile(filepath.Join(d, "blobs", "sha256", h.Hex), buf.Bytes(), 0o644)
		}
		b := ir.Base{Kind: ir.BaseOCILayout, Ref: imageref.MustParse("oci:" + d), Key: ir.KeyOf([]byte(d))}
		imageio.ResolveBase(context.Background(), b.Ref, platform)
		buildBase(t, b)
	})
}

// FuzzDockerArchive reads arbitrary bytes as a docker archive: reading
// and importing must fail or succeed, never panic.
func FuzzDockerArchive(f *testing.F) {
	tag, _ := name.NewTag("small:latest")
	p := filepath.Join(f.TempDir(), "small.tar")
	if err := tarball.WriteToFile(p, tag, mutate.MediaType(smallImage(f, "hello"), types.DockerManifestSchema2)); err != nil {
		f.Fatal(err)
	}
	data, _ := os.ReadFile(p)
	f.Add(data)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "a.tar")
		os.WriteFile(p, data, 0o644)
		b := ir.Base{Kind: ir.BaseDockerArchive, Ref: imageref.MustParse("docker-archive:" + p), Key: ir.KeyOf([]byte(p))}
		imageio.ResolveBase(context.Background(), b.Ref, platform)
		buildBase(t, b)
	})
}
