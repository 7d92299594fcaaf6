// Command mkbase writes an offline busybox base image (an OCI layout tagged
// "latest") made from the host's static busybox, for the README's first
// command, `make demo` and the benchmarks. No registry is needed. With
// -multiarch the layout holds an image index of linux/amd64 (the host's
// busybox) and linux/arm64 (Debian's arm64 busybox-static, fetched with apt),
// for the benchmarks' two-platform builds.
package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgc-dev/imgc/internal/testbase"
)

func main() {
	args := os.Args[1:]
	write := writeBusybox
	if len(args) == 2 && args[0] == "-multiarch" {
		write, args = writeMultiArch, args[1:]
	}
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: mkbase [-multiarch] DIR")
		os.Exit(2)
	}
	if err := write(args[0]); err != nil {
		fmt.Fprintf(os.Stderr, "mkbase: %v\n", err)
		os.Exit(1)
	}
}

func writeBusybox(dir string) error {
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

func writeMultiArch(dir string) error {
	if _, err := os.Stat(dir + "/index.json"); err == nil {
		return nil
	}
	src, err := testbase.MultiArchLayout()
	if err != nil {
		return err
	}
	// A copy, so the shared temporary layout stays unmodified; index.json
	// last, so an interrupted copy is made again next time.
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		if rel == "index.json" {
			return nil
		}
		return copyFile(path, filepath.Join(dir, rel))
	})
	if err != nil {
		return fmt.Errorf("copying the layout: %w", err)
	}
	return copyFile(filepath.Join(src, "index.json"), filepath.Join(dir, "index.json"))
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}
