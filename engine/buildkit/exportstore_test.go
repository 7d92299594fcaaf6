package buildkit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgc-dev/imgc/store"
)

// The daemon writes blobs verified by digest, is told a blob exists only
// when it knows imgc has it, and reads nothing.
func TestExportStore(t *testing.T) {
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(data string) digest.Digest {
		h, err := s.PutBlob([]byte(data))
		if err != nil {
			t.Fatal(err)
		}
		return digest.Digest(h.String())
	}
	stored := func(d digest.Digest) bool { return s.HasBlob(v1.Hash{Algorithm: "sha256", Hex: d.Encoded()}) }
	desc := func(data string) ocispecs.Descriptor {
		return ocispecs.Descriptor{Digest: digest.FromString(data), Size: int64(len(data))}
	}
	known, private := put("a base layer"), put("another image's layer")
	e := newExportStore(s)
	e.know(known)

	// A blob the daemon knows imgc has is there; the daemon skips it.
	if _, err := e.Info(ctx, known); err != nil {
		t.Errorf("Info(known): %v", err)
	}
	if _, err := e.Writer(ctx, content.WithRef("a"), content.WithDescriptor(desc("a base layer"))); !errdefs.IsAlreadyExists(err) {
		t.Errorf("Writer(known) = %v, want already exists", err)
	}
	// Any other blob of the store is not, and a write of it is taken.
	if _, err := e.Info(ctx, private); !errdefs.IsNotFound(err) {
		t.Errorf("Info(private) = %v, want not found", err)
	}
	if err := content.WriteBlob(ctx, e, "b", strings.NewReader("another image's layer"), desc("another image's layer")); err != nil {
		t.Errorf("writing a stored blob the daemon did not know of: %v", err)
	}
	// A new blob is stored, and then known.
	if err := content.WriteBlob(ctx, e, "c", strings.NewReader("a new layer"), desc("a new layer")); err != nil {
		t.Fatalf("writing a new blob: %v", err)
	}
	if d := digest.FromString("a new layer"); !stored(d) {
		t.Errorf("the new blob %s is not in the store", d)
	} else if _, err := e.Info(ctx, d); err != nil {
		t.Errorf("Info(written) = %v", err)
	}
	if n, size := e.take(); n != 2 || size != int64(len("another image's layer")+len("a new layer")) {
		t.Errorf("take() = %d blobs, %d bytes; want 2 blobs, %d bytes", n, size, len("another image's layer")+len("a new layer"))
	}
	// Content that does not hash to its name is refused and not stored.
	bad := desc("the declared content")
	err = content.WriteBlob(ctx, e, "d", strings.NewReader("other content!!!!!!!"), bad)
	if err == nil || !strings.Contains(err.Error(), "hashes to") {
		t.Errorf("writing mismatched content = %v, want a digest mismatch", err)
	}
	if stored(bad.Digest) {
		t.Errorf("the mismatched blob was stored")
	}
	if _, err := e.Writer(ctx, content.WithRef("e"), content.WithDescriptor(ocispecs.Descriptor{Digest: "sha256:../../x", Size: 1})); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Writer(bad digest) = %v, want invalid argument", err)
	}
	if leftover, _ := filepath.Glob(filepath.Join(s.Dir(), "tmp", "export-*")); len(leftover) != 0 {
		t.Errorf("temporary files left: %v", leftover)
	}
	// Nothing can be read, changed or deleted.
	if _, err := e.ReaderAt(ctx, ocispecs.Descriptor{Digest: known}); !errdefs.IsNotFound(err) {
		t.Errorf("ReaderAt(known) = %v, want not found", err)
	}
	if err := e.Delete(ctx, known); err == nil {
		t.Errorf("Delete(known) succeeded")
	}
	if _, err := os.Stat(s.BlobPath(v1.Hash{Algorithm: "sha256", Hex: known.Encoded()})); errors.Is(err, os.ErrNotExist) {
		t.Errorf("the known blob is gone")
	}
}
