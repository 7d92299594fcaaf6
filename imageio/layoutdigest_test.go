package imageio_test

import (
	"context"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"

	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/imageref"
)

// TestLayoutImageByDigest: oci:PATH@DIGEST (oci-layout://PATH@DIGEST)
// selects the layout's image of that digest, whether index.json names it
// or only its blobs hold it (an index's digest selects the platform's
// image), and wins over a tag, as buildx does.
func TestLayoutImageByDigest(t *testing.T) {
	one, two := smallImage(t, "one"), smallImage(t, "two")
	dir := writeLayout(t, one)
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(two, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "two"})); err != nil {
		t.Fatal(err)
	}
	// An index of "two" whose blob index.json does not name.
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: two, Descriptor: descFor(t, two)})
	if err := p.WriteIndex(idx); err != nil {
		t.Fatal(err)
	}
	d1, _ := one.Digest()
	d2, _ := two.Digest()
	di, _ := idx.Digest()
	ctx := context.Background()
	for _, tc := range []struct {
		ref  string
		want string
	}{
		{"oci:" + dir + "@" + d1.String(), d1.String()},
		{"oci:" + dir + ":latest@" + d2.String(), d2.String()},
		{"oci:" + dir + "@" + di.String(), d2.String()},
		{"oci:" + dir + ":two", d2.String()},
	} {
		got, err := imageio.ResolveBase(ctx, imageref.MustParse(tc.ref), platform)
		if err != nil {
			t.Errorf("%s: %v", tc.ref, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s resolves to %s, want %s", tc.ref, got, tc.want)
		}
	}
	missing := "sha256:" + strings.Repeat("0", 64)
	_, err = imageio.ResolveBase(ctx, imageref.MustParse("oci:"+dir+"@"+missing), platform)
	if err == nil || !strings.Contains(err.Error(), "has no manifest or index "+missing) {
		t.Errorf("a digest the layout lacks: %v", err)
	}
}

// descFor is img's descriptor for an index, with the test's platform.
func descFor(t *testing.T, img v1.Image) v1.Descriptor {
	t.Helper()
	d, err := partial.Descriptor(img)
	if err != nil {
		t.Fatal(err)
	}
	pl := v1.Platform{OS: platform.OS, Architecture: platform.Architecture}
	d.Platform = &pl
	return *d
}
