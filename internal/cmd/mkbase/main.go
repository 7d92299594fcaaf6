// Command mkbase writes an offline busybox base image (an OCI layout tagged
// "latest") made from the host's static busybox, for the README's first
// command, `make demo` and the benchmarks. No registry is needed.
package main

import (
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgc-dev/imgc/internal/testbase"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mkbase DIR")
		os.Exit(2)
	}
	if err := write(os.Args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "mkbase: %v\n", err)
		os.Exit(1)
	}
}

func write(dir string) error {
	if _, err := os.Stat(dir + "/index.json"); err == nil {
		return nil // already there; the image is reproducible
	}
	img, err := testbase.BusyboxV1Image()
	if err != nil {
		return fmt.Errorf("making the busybox image: %w", err)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	p, err := layout.Write(dir, idx)
	if err != nil {
		return fmt.Errorf("writing the layout: %w", err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "latest"})); err != nil {
		return fmt.Errorf("writing the image: %w", err)
	}
	return nil
}
