package buildkit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	contentlocal "github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// The daemon reads, through the session, only the blobs of the build's
// bases, and writes nothing.
func TestServedStoreServesOnlyAllowedBlobs(t *testing.T) {
	dir := t.TempDir()
	put := func(data string) digest.Digest {
		d := digest.FromString(data)
		p := filepath.Join(dir, "blobs", "sha256", d.Encoded())
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	base, private := put("a base layer"), put("another image's layer")
	cs, err := contentlocal.NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := newServedStore(cs)
	s.allow(base)
	ctx := context.Background()
	if _, err := s.Info(ctx, base); err != nil {
		t.Errorf("Info of an allowed blob: %v", err)
	}
	if ra, err := s.ReaderAt(ctx, ocispecs.Descriptor{Digest: base}); err != nil {
		t.Errorf("ReaderAt of an allowed blob: %v", err)
	} else {
		ra.Close()
	}
	if _, err := s.Info(ctx, private); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Info of another blob: %v, want not found", err)
	}
	if _, err := s.ReaderAt(ctx, ocispecs.Descriptor{Digest: private}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("ReaderAt of another blob: %v, want not found", err)
	}
	var walked []digest.Digest
	if err := s.Walk(ctx, func(i content.Info) error { walked = append(walked, i.Digest); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(walked) != 1 || walked[0] != base {
		t.Errorf("Walk saw %v, want only %s", walked, base)
	}
	if _, err := s.Writer(ctx); err == nil {
		t.Error("Writer succeeded on the served store")
	}
	if err := s.Delete(ctx, base); err == nil {
		t.Error("Delete succeeded on the served store")
	}
}
