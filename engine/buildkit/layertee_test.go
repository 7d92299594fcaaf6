package buildkit

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgc-dev/imgc/store"
)

// layerBlob is a gzip layer as BuildKit compresses it (Go's compress/gzip,
// not imgc's compressor) and the digest of its tar.
func layerBlob(t *testing.T, files map[string]string) ([]byte, v1.Hash) {
	t.Helper()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(tb.Bytes())
	var gb bytes.Buffer
	zw := gzip.NewWriter(&gb)
	zw.Write(tb.Bytes())
	zw.Close()
	return gb.Bytes(), v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// A layer blob the daemon writes is recompressed as it arrives, into the
// very blob recompress makes from the stored blob, which the build then
// claims; what no one claims, or what fails, leaves nothing behind.
func TestLayerTee(t *testing.T) {
	ctx := context.Background()
	for _, compression := range []string{"gzip", "zstd"} {
		t.Run(compression, func(t *testing.T) {
			s, err := store.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			e := newExportStore(s)
			e.recompressAs(compression)
			write := func(ref string, blob []byte, mt string) store.Layer {
				t.Helper()
				d := digest.FromBytes(blob)
				desc := ocispecs.Descriptor{MediaType: mt, Digest: d, Size: int64(len(blob))}
				if err := content.WriteBlob(ctx, e, ref, bytes.NewReader(blob), desc); err != nil {
					t.Fatalf("writing %s: %v", ref, err)
				}
				return store.Layer{Digest: v1.Hash{Algorithm: "sha256", Hex: d.Encoded()}, Size: int64(len(blob)), MediaType: types.MediaType(mt)}
			}
			blob, diff := layerBlob(t, map[string]string{"app/a.txt": strings.Repeat("hello ", 50000), "app/b.txt": "b"})
			l := write("layer", blob, ocispecs.MediaTypeImageLayerGzip)
			l.DiffID = diff
			got, ok, err := e.claim(l)
			if err != nil || !ok {
				t.Fatalf("claim = %v, %v; want the teed layer", ok, err)
			}
			// What recompress makes of the stored blob without a tee.
			rc, err := s.OpenLayer(l)
			if err != nil {
				t.Fatal(err)
			}
			want, err := s.PutLayer(rc, diff, compression)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("teed layer differs from the recompressed one (-want +got):\n%s", diff)
			}
			if _, ok, _ := e.claim(l); ok {
				t.Errorf("a layer was claimed twice")
			}

			// A blob whose diff ID is not its content's is refused.
			other, _ := layerBlob(t, map[string]string{"x": "y"})
			lo := write("other", other, ocispecs.MediaTypeImageLayerGzip)
			lo.DiffID = diff
			if _, _, err := e.claim(lo); err == nil || !strings.Contains(err.Error(), "hashes to") {
				t.Errorf("claim of a mismatched diff id = %v, want a mismatch", err)
			}
			// Content that does not decompress is still stored as the daemon
			// sent it, without a teed layer.
			junk := write("junk", []byte("not gzip at all"), ocispecs.MediaTypeImageLayerGzip)
			if !s.HasBlob(junk.Digest) {
				t.Errorf("the undecompressable blob was not stored")
			}
			if _, ok, err := e.claim(junk); ok || err != nil {
				t.Errorf("claim(junk) = %v, %v; want no teed layer", ok, err)
			}
			// A config is no layer; an unclaimed layer is discarded.
			write("config", []byte(`{"architecture":"amd64"}`), ocispecs.MediaTypeImageConfig)
			third, _ := layerBlob(t, map[string]string{"z": "z"})
			write("third", third, ocispecs.MediaTypeImageLayerGzip)
			// A write the daemon leaves open ends with the solve.
			fourth, _ := layerBlob(t, map[string]string{"open": "never committed"})
			w, err := e.Writer(ctx, content.WithRef("open"), content.WithDescriptor(ocispecs.Descriptor{Digest: digest.FromBytes(fourth), Size: int64(len(fourth))}))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(fourth[:len(fourth)/2]); err != nil {
				t.Fatal(err)
			}
			e.discard()
			if left, _ := filepath.Glob(filepath.Join(s.Dir(), "tmp", "*")); len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
			if _, err := os.Stat(s.BlobPath(want.Digest)); err != nil {
				t.Errorf("the claimed layer is not stored: %v", err)
			}
		})
	}
}
