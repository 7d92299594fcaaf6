package store

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"

	"github.com/imgc-dev/imgc/store/layer"
)

func TestUnpackLimitDefaults(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		u            UnpackLimits
		size         int64
		layer, image int64
	}{
		{UnpackLimits{}, 4 << 20, 40<<20 + gib, 40<<20 + 4*gib},
		{UnpackLimits{}, 0, gib, 4 * gib},
		{UnpackLimits{}, maxInt64 / 2, maxInt64, maxInt64},
		{UnpackLimits{Max: 5}, 4 << 20, 5, 5},
		{UnpackLimits{Max: -1}, 4 << 20, 0, 0},
	} {
		if got := tc.u.layer(tc.size); got != tc.layer {
			t.Errorf("%+v.layer(%d) = %d, want %d", tc.u, tc.size, got, tc.layer)
		}
		if got := tc.u.image(tc.size); got != tc.image {
			t.Errorf("%+v.image(%d) = %d, want %d", tc.u, tc.size, got, tc.image)
		}
	}
}

// TestSnapshotBounds unpacks base layers through the store, gzip and zstd:
// within the bound they unpack, past it they are refused, and what one
// layer unpacks counts towards the next one's image bound.
func TestSnapshotBounds(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: unpacking sets owners")
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "data", Typeflag: tar.TypeReg, Size: 1 << 20, Mode: 0o644})
	tw.Write(bytes.Repeat([]byte("abcd"), 1<<18))
	tw.Close()
	diff, _, _ := v1.SHA256(bytes.NewReader(tb.Bytes()))
	put := func(t *testing.T, s *Store, mt types.MediaType) Layer {
		var cb bytes.Buffer
		if mt == types.OCILayerZStd {
			zw, _ := zstd.NewWriter(&cb)
			zw.Write(tb.Bytes())
			zw.Close()
		} else {
			zw := gzip.NewWriter(&cb)
			zw.Write(tb.Bytes())
			zw.Close()
		}
		d, n, err := s.PutBlobStream(bytes.NewReader(cb.Bytes()), v1.Hash{})
		if err != nil {
			t.Fatal(err)
		}
		return Layer{Digest: d, DiffID: diff, Size: n, MediaType: mt, FromBase: true}
	}
	for _, mt := range []types.MediaType{types.OCILayer, types.OCILayerZStd} {
		t.Run(string(mt), func(t *testing.T) {
			s, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			l := put(t, s, mt)
			s.SetUnpackLimits(UnpackLimits{Max: 512 << 10})
			if _, err := s.Snapshots(context.Background(), []Layer{l}); !errors.Is(err, layer.ErrTooLarge) {
				t.Errorf("a 1 MiB layer under a bound of 512 KiB: %v", err)
			}
			s.SetUnpackLimits(UnpackLimits{})
			dirs, err := s.Snapshots(context.Background(), []Layer{l})
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(filepath.Join(dirs[0], "data")); err != nil || fi.Size() != 1<<20 {
				t.Errorf("data: %v, %v", fi, err)
			}
		})
	}
	// Two layers of 1 MiB each pass a per-layer bound of 1.5 MiB but
	// not, together, an image bound of the same.
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l1 := put(t, s, types.OCILayer)
	l2 := put(t, s, types.OCILayerZStd)
	l2.DiffID = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)} // another snapshot
	s.SetUnpackLimits(UnpackLimits{Max: 3 << 19})
	_, err = s.Snapshots(context.Background(), []Layer{l1, l2})
	if !errors.Is(err, layer.ErrTooLarge) || !strings.Contains(err.Error(), "base image's 2 layers") {
		t.Errorf("two 1 MiB layers under an image bound of 1.5 MiB: %v", err)
	}
}
