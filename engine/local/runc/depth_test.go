package runc_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgc-dev/imgc/internal/testbase"
)

// BenchmarkTrivialRunDepth is BenchmarkTrivialRun over a busybox lower and
// depth-1 more lower dirs, each named as a store names its snapshots (a
// 64-digit diff ID below a cache directory), as a step at that depth of a
// build runs (a volatile overlay, the build's network).
func BenchmarkTrivialRunDepth(b *testing.B) {
	requireSlirp(b)
	base := busyboxRootfs(b)
	net := newNetwork(b)
	snaps := filepath.Join(b.TempDir(), "var", "cache", "imgc", "snapshots")
	var layers []string
	for i := range 199 {
		sum := sha256.Sum256([]byte(fmt.Sprint(i)))
		d := filepath.Join(snaps, hex.EncodeToString(sum[:]))
		if err := os.MkdirAll(filepath.Join(d, "layers"), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "layers", fmt.Sprint(i)), []byte("x"), 0o644); err != nil {
			b.Fatal(err)
		}
		layers = append(layers, d)
	}
	bundle := b.TempDir()
	for _, depth := range []int{1, 50, 200} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			// Top first, the base at the bottom.
			lowers := append(append([]string(nil), layers[200-depth:]...), base)
			d := b.TempDir()
			i := 0
			cpu := testbase.CPUTime()
			for b.Loop() {
				i++
				trivialStep(b, filepath.Join(d, fmt.Sprint(i)), lowers, bundle, net)
			}
			// CPU time (imgc's and runc's) says more than the wall time on
			// a loaded machine.
			b.ReportMetric(float64(testbase.CPUTime()-cpu)/1e6/float64(b.N), "cpu-ms/op")
		})
	}
}
