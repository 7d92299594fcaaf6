package local_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
	"github.com/imgc-dev/imgc/store/layer"
)

// layoutOfTar writes an OCI layout whose only layer is the tar data,
// gzipped.
func layoutOfTar(t testing.TB, data []byte) string {
	t.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1), l)
	if err != nil {
		t.Fatal(err)
	}
	return writeLayout(t, img)
}

// TestBaseBombRefused unpacks gzip bomb bases (64 MiB of zeros in a few
// KiB, as a file or after the tar's end) under a bound of 16 MiB: refused
// naming the layer, while a normal base still unpacks under the same
// bound.
func TestBaseBombRefused(t *testing.T) {
	base := requireRuntime(t)
	var file, trailing bytes.Buffer
	tw := tar.NewWriter(&file)
	tw.WriteHeader(&tar.Header{Name: "zeros", Typeflag: tar.TypeReg, Size: 64 << 20, Mode: 0o644})
	tw.Write(make([]byte, 64<<20))
	tw.Close()
	tw = tar.NewWriter(&trailing)
	tw.WriteHeader(&tar.Header{Name: "small", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644})
	tw.Write([]byte("x"))
	tw.Close()
	trailing.Write(make([]byte, 64<<20))
	s := openStore(t)
	s.SetUnpackLimits(store.UnpackLimits{Max: 16 << 20})
	for name, data := range map[string][]byte{"file": file.Bytes(), "after the tar": trailing.Bytes()} {
		t.Run(name, func(t *testing.T) {
			dir := layoutOfTar(t, data)
			b := ir.Base{Kind: ir.BaseOCILayout, Ref: imageref.MustParse("oci:" + dir), Key: ir.KeyOf([]byte(dir)), Origin: ir.Origin{File: "bomb.image.hcl", Line: 2}}
			p := &ir.Plan{Project: "bomb", Targets: []*ir.Target{target("app", b, layerOf("run", &ir.Run{Argv: []string{"/x"}, Network: ir.NetworkNone, Origin: origin()}))}}
			_, _, err := build(t, s, p, engine.BuildOptions{})
			if !errors.Is(err, layer.ErrTooLarge) || !strings.Contains(err.Error(), "unpacking layer sha256:") || !strings.Contains(err.Error(), "IMGC_MAX_UNPACK") {
				t.Fatalf("a gzip bomb base: %v, want an unpack bound error naming the layer", err)
			}
			t.Logf("error: %v", err)
		})
	}
	ok := target("ok", busyboxBase(base), layerOf("run", sh("true")))
	if _, _, err := build(t, s, &ir.Plan{Project: "ok", Targets: []*ir.Target{ok}}, engine.BuildOptions{}); err != nil {
		t.Errorf("a normal base under the same bound: %v", err)
	}
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

// TestAddArchiveBombRefused: an archive in the build context that `add`
// unpacks is bounded as a base layer of its size is.
func TestAddArchiveBombRefused(t *testing.T) {
	base := requireRuntime(t)
	var tgz bytes.Buffer
	zw := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "zeros", Typeflag: tar.TypeReg, Size: 64 << 20, Mode: 0o644})
	tw.Write(make([]byte, 64<<20))
	tw.Close()
	zw.Close()
	ctxDir := t.TempDir()
	writeFiles(t, ctxDir, map[string]string{"bomb.tar.gz": tgz.String()})
	s := openStore(t)
	s.SetUnpackLimits(store.UnpackLimits{Max: 16 << 20})
	add := &ir.Add{Context: ctxDir, Sources: []string{"bomb.tar.gz"}, Dest: "/opt/", Extract: true, Origin: origin()}
	add.Files = contextCopy(t, ctxDir, []string{"bomb.tar.gz"}, "/opt/").Files
	p := &ir.Plan{Project: "addbomb", Targets: []*ir.Target{target("app", busyboxBase(base), layerOf("add", add))}}
	if _, _, err := build(t, s, p, engine.BuildOptions{}); !errors.Is(err, layer.ErrTooLarge) || !strings.Contains(err.Error(), "bomb.tar.gz") {
		t.Fatalf("add of a gzip bomb: %v, want an unpack bound error naming the archive", err)
	}
	s.SetUnpackLimits(store.UnpackLimits{Max: 128 << 20})
	if _, _, err := build(t, s, p, engine.BuildOptions{}); err != nil {
		t.Errorf("the same archive under a bound it fits: %v", err)
	}
}
