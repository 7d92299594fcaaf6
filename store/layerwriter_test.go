package store

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/flate"
	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// layerData is n bytes of a fixed mix of text, zeros and noise, so that
// compressors take every path (matches, literals, stored blocks).
func layerData(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < n {
		switch r.IntN(3) {
		case 0:
			for range r.IntN(4000) {
				b.WriteString("the quick brown fox jumps over the lazy dog\n"[:1+r.IntN(44)])
			}
		case 1:
			b.Write(make([]byte, r.IntN(70000)))
		default:
			noise := make([]byte, r.IntN(90000))
			for i := range noise {
				noise[i] = byte(r.Uint32())
			}
			b.Write(noise)
		}
	}
	return b.Bytes()[:n]
}

func digestOf(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// oneShot compresses data on one goroutine, independently of the
// pipeline's code: zstd as one frame per zstdPiece bytes; gzip as one
// member whose deflate stream is cut every gzipPiece bytes, each piece
// from a fresh compressor with the 32 KiB before it as dictionary, ended
// by a sync flush (the last by the final block). Under gzipPiece bytes,
// that is one stream, which kgzip must make byte for byte.
func oneShot(t *testing.T, data []byte, compression string) []byte {
	t.Helper()
	if compression == "zstd" {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		var out []byte
		for rest := data; len(rest) > 0; rest = rest[min(zstdPiece, len(rest)):] {
			out = enc.EncodeAll(rest[:min(zstdPiece, len(rest))], out)
		}
		return out
	}
	out := bytes.NewBuffer([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255})
	for off := 0; ; off += gzipPiece {
		end := min(off+gzipPiece, len(data))
		dict := data[max(0, off-gzipDict):off]
		fw, err := flate.NewWriterDict(out, flate.DefaultCompression, dict)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(data[off:end])
		if end == len(data) {
			fw.Close()
			break
		}
		fw.Flush()
	}
	var tr [8]byte
	binary.LittleEndian.PutUint32(tr[:4], crc32.ChecksumIEEE(data))
	binary.LittleEndian.PutUint32(tr[4:], uint32(len(data)))
	out.Write(tr[:])
	if len(data) < gzipPiece {
		var one bytes.Buffer
		zw, _ := kgzip.NewWriterLevel(&one, kgzip.DefaultCompression)
		zw.Write(data)
		zw.Close()
		if !bytes.Equal(one.Bytes(), out.Bytes()) {
			t.Fatalf("a %d-byte gzip piece differs from one kgzip stream", len(data))
		}
	}
	return out.Bytes()
}

// The pipeline's blob is byte for byte what one encoder on one goroutine
// makes of the whole tar, whatever the sizes of the writes and however many
// goroutines compress zstd's frames, so layer digests are those of every
// run on every machine. The tar spans three zstd frames.
func TestLayerWriterMatchesOneEncoder(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range [][]byte{layerData(gzipPiece / 3), layerData(2*zstdPiece + 12345)} {
		matchOneEncoder(t, s, data)
	}
}

func matchOneEncoder(t *testing.T, s *Store, data []byte) {
	for _, comp := range []string{"gzip", "zstd"} {
		want := oneShot(t, data, comp)
		if comp == "gzip" {
			// Go's own reader, as containerd's and docker's.
			zr, err := gzip.NewReader(bytes.NewReader(want))
			if err != nil {
				t.Fatal(err)
			}
			back, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(back, data) {
				t.Fatalf("compress/gzip reads back %d bytes (%v), want the %d of the tar", len(back), err, len(data))
			}
		}
		for _, piece := range []int{1000, 32 << 10, chunkSize + 1, len(data)} {
			lw, err := s.NewLayerWriter(comp)
			if err != nil {
				t.Fatal(err)
			}
			for rest := data; len(rest) > 0; {
				k := min(piece, len(rest))
				if _, err := lw.Write(rest[:k]); err != nil {
					t.Fatal(err)
				}
				rest = rest[k:]
			}
			l, err := lw.Close()
			if err != nil {
				t.Fatal(err)
			}
			if err := lw.Commit(); err != nil {
				t.Fatal(err)
			}
			wantMT := types.OCILayer
			if comp == "zstd" {
				wantMT = types.OCILayerZStd
			}
			if l.Digest != digestOf(want) || l.Size != int64(len(want)) || l.DiffID != digestOf(data) || l.MediaType != wantMT {
				t.Errorf("%s in %d-byte writes: got %+v, want digest %s size %d diff %s", comp, piece, l, digestOf(want), len(want), digestOf(data))
			}
			got, err := os.ReadFile(s.BlobPath(l.Digest))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s in %d-byte writes: stored blob differs (%v)", comp, piece, err)
			}
			rc, err := s.OpenLayer(l)
			if err != nil {
				t.Fatal(err)
			}
			back, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(back, data) {
				t.Errorf("%s: the blob does not decompress to the tar (%v)", comp, err)
			}
		}
	}
}

// An aborted layer leaves nothing in the store, and PutLayer refuses a
// tar that does not hash to the diff ID it is given.
func TestLayerWriterAbortAndVerify(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Aborted with pieces under way (several of each compression's) and
	// one being filled.
	data := layerData(3*zstdPiece + 7)
	for _, comp := range []string{"gzip", "zstd"} {
		lw, err := s.NewLayerWriter(comp)
		if err != nil {
			t.Fatal(err)
		}
		lw.Write(data)
		lw.Abort()
	}
	if _, err := s.PutLayer(bytes.NewReader([]byte("not this")), digestOf([]byte("this")), "gzip"); err == nil {
		t.Error("PutLayer stored a tar that does not hash to its diff ID")
	}
	for _, dir := range []string{"tmp", "oci/blobs/sha256"} {
		des, _ := os.ReadDir(s.path(dir))
		if len(des) != 0 {
			t.Errorf("%s holds %d files after aborts", dir, len(des))
		}
	}
}

func BenchmarkLayerWriter(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	data := layerData(64 << 20)
	for _, comp := range []string{"gzip", "zstd"} {
		b.Run(comp, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				lw, err := s.NewLayerWriter(comp)
				if err != nil {
					b.Fatal(err)
				}
				lw.Write(data)
				if _, err := lw.Close(); err != nil {
					b.Fatal(err)
				}
				lw.Abort()
			}
		})
	}
}

// A layer read ahead on its own goroutine gives the same bytes, reports a
// corrupt or truncated stream as an error (after bytes from before the
// damage), and can be closed half read.
func TestOpenLayerReadsAhead(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := layerData(6<<20 + 7)
	l, err := s.PutLayer(bytes.NewReader(data), v1.Hash{}, "gzip")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := s.OpenLayer(l)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 100)
	if _, err := io.ReadFull(rc, head); err != nil || !bytes.Equal(head, data[:100]) {
		t.Errorf("first bytes differ (%v)", err)
	}
	if err := rc.Close(); err != nil {
		t.Error(err)
	}
	rc.Close()
	blob, _ := os.ReadFile(s.BlobPath(l.Digest))
	bad := bytes.Clone(blob)
	for i := len(bad) / 2; i < len(bad)/2+64; i++ {
		bad[i] ^= 0x55
	}
	h, err := s.PutBlob(bad)
	if err != nil {
		t.Fatal(err)
	}
	rc, err = s.OpenLayer(Layer{Digest: h, MediaType: types.OCILayer})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err == nil {
		t.Error("a corrupt layer read without error")
	}
	if len(got) < 64<<10 || !bytes.Equal(got[:64<<10], data[:64<<10]) {
		t.Errorf("the bytes before the corruption differ (%d read)", len(got))
	}
	// Cut in the middle: the decompressor's io.ErrUnexpectedEOF is an
	// error, not the layer's end.
	if h, err = s.PutBlob(blob[:len(blob)/2]); err != nil {
		t.Fatal(err)
	}
	if rc, err = s.OpenLayer(Layer{Digest: h, MediaType: types.OCILayer}); err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	if err == nil {
		t.Error("a truncated layer read without error")
	}
}

// TestLayerDigestsStay: the compressed bytes of a fixed tar. A change of
// the piece sizes, levels or of klauspost/compress that changes them
// changes every layer digest a --no-cache build makes, which docs/build.md
// must then say.
func TestLayerDigestsStay(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := layerData(zstdPiece + 3*gzipPiece + 5)
	for comp, want := range map[string]string{
		"gzip": "baa6986e5b7d963f5aa4822ff12cc61fbf005642d0a1f0dbcbc4f11e9978fd9d",
		"zstd": "79f1933e6acf7e214bdfc7934d3f14a567a51edd07fc873d220271d110744d5c",
	} {
		lw, err := s.NewLayerWriter(comp)
		if err != nil {
			t.Fatal(err)
		}
		lw.Write(data)
		l, err := lw.Close()
		if err != nil {
			t.Fatal(err)
		}
		lw.Abort()
		if l.Digest.Hex != want {
			t.Errorf("%s layer of the fixed tar: %s, want %s", comp, l.Digest.Hex, want)
		}
	}
}
