package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/imgc-dev/imgc/store/layer"
)

// UnpackLimits bound what unpacking a base image may write, against
// decompression bombs (a few megabytes of gzip or a sparse tar entry that
// unpack to terabytes). Bytes count as layer.ApplyStats.Size does: file
// contents by their logical size, holes included, and a header's worth per
// entry. The zero value is the default: each layer may unpack to 10 times
// its compressed size plus 1 GiB, and an image's layers together to 10
// times the image's compressed size plus 4 GiB, which no real base comes
// near. Layers built by imgc itself are not bounded.
type UnpackLimits struct {
	// Max, when positive, replaces both defaults with one bound for each
	// layer and each image; negative means no bound.
	Max int64
}

const (
	unpackRatio      = 10
	unpackLayerSlack = 1 << 30
	unpackImageSlack = 4 << 30
)

// layer returns the bound of a layer of compressed size n (0: none).
func (u UnpackLimits) layer(n int64) int64 {
	switch {
	case u.Max < 0:
		return 0
	case u.Max > 0:
		return u.Max
	}
	return satAdd(satMul(max(n, 0), unpackRatio), unpackLayerSlack)
}

// image returns the bound of an image of compressed size n (0: none).
func (u UnpackLimits) image(n int64) int64 {
	switch {
	case u.Max < 0:
		return 0
	case u.Max > 0:
		return u.Max
	}
	return satAdd(satMul(max(n, 0), unpackRatio), unpackImageSlack)
}

const maxInt64 = 1<<63 - 1

func satMul(a, b int64) int64 {
	if a != 0 && a > maxInt64/b {
		return maxInt64
	}
	return a * b
}

func satAdd(a, b int64) int64 {
	if a > maxInt64-b {
		return maxInt64
	}
	return a + b
}

// ParseUnpackLimits reads a bound as IMGC_MAX_UNPACK gives it: empty for
// the defaults, "off" for none, or a size such as 20GiB, 500MB or
// 1073741824 (bytes) for one bound per layer and per image.
func ParseUnpackLimits(s string) (UnpackLimits, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "":
		return UnpackLimits{}, nil
	case "off", "none", "unlimited":
		return UnpackLimits{Max: -1}, nil
	}
	num := strings.TrimRightFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	unit := strings.TrimSpace(s[len(num):])
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return UnpackLimits{}, fmt.Errorf("unpack bound %q is not a positive size such as 20GiB, 500MB or 1073741824, or off", s)
	}
	mult := map[string]int64{
		"": 1, "b": 1,
		"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
		"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
		"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
		"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
	}[strings.ToLower(unit)]
	if mult == 0 {
		return UnpackLimits{}, fmt.Errorf("unpack bound %q has unknown unit %q: use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB", s, unit)
	}
	if n > maxInt64/mult {
		return UnpackLimits{}, fmt.Errorf("unpack bound %q is too large", s)
	}
	return UnpackLimits{Max: n * mult}, nil
}

// SetUnpackLimits sets the bounds for unpacking base image layers.
func (s *Store) SetUnpackLimits(u UnpackLimits) { s.unpack = u }

// LayerUnpackBound is what a base layer of compressed size n may unpack to
// under the store's limits (0: no bound), for other untrusted archives
// bounded as base layers are.
func (s *Store) LayerUnpackBound(n int64) int64 { return s.unpack.layer(n) }

// imageBudget tracks what the base layers of one chain unpack.
type imageBudget struct {
	max, used int64 // max 0: no bound
	layers    int
	size      int64
}

func (s *Store) imageBudget(chain []Layer) *imageBudget {
	b := &imageBudget{}
	for _, l := range chain {
		if l.FromBase {
			b.layers++
			b.size += l.Size
		}
	}
	b.max = s.unpack.image(b.size)
	return b
}

// layerMax is the bound for unpacking l, the smaller of its own and what
// is left of the image's; 0 means none.
func (s *Store) layerMax(l Layer, b *imageBudget) int64 {
	if !l.FromBase {
		return 0
	}
	m := s.unpack.layer(l.Size)
	if b.max > 0 && (m == 0 || b.max-b.used < m) {
		m = max(b.max-b.used, 1)
	}
	return m
}

// tooLarge rewords an unpack bound error: which bound it was, and how to
// raise it when the base is trusted.
func (s *Store) tooLarge(err error, l Layer, b *imageBudget) error {
	if !errors.Is(err, layer.ErrTooLarge) {
		return err
	}
	lm := s.unpack.layer(l.Size)
	what := fmt.Sprintf("the layer (%d bytes compressed) unpacks to more than %d bytes", l.Size, lm)
	if b.max > 0 && (lm == 0 || b.max-b.used < lm) {
		what = fmt.Sprintf("the base image's %d layers (%d bytes compressed) unpack to more than %d bytes", b.layers, b.size, b.max)
	}
	return fmt.Errorf("%s, a bound against decompression bombs; if the image is trusted, raise it with IMGC_MAX_UNPACK (see docs/build.md): %w", what, err)
}
