package layer_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/store/layer"
)

// sparseTar is a PAX (GNU 1.0) sparse entry "big" of logical size size
// whose only data is one byte "A" at its end: a few blocks of tar.
// archive/tar cannot write sparse entries, so the PAX header is made by
// hand.
func sparseTar(t testing.TB, size int64) []byte {
	t.Helper()
	var recs string
	for _, kv := range [][2]string{{"GNU.sparse.major", "1"}, {"GNU.sparse.minor", "0"}, {"GNU.sparse.name", "big"}, {"GNU.sparse.realsize", itoa(size)}} {
		rec := " " + kv[0] + "=" + kv[1] + "\n"
		n := len(rec) + 1
		for len(itoa(int64(n)))+len(rec) != n {
			n++
		}
		recs += itoa(int64(n)) + rec
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "PaxHeaders/big", Size: int64(len(recs)), Format: tar.FormatUSTAR}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(recs))
	tw.Flush()
	// Make the first header a PAX extended header.
	hdr := buf.Bytes()[:512]
	hdr[156] = 'x'
	copy(hdr[148:156], "        ")
	var sum int64
	for _, c := range hdr {
		sum += int64(c)
	}
	copy(hdr[148:156], fmt.Sprintf("%06o\x00 ", sum))
	sparseMap := make([]byte, 512)
	copy(sparseMap, "1\n"+itoa(size-1)+"\n1\n")
	data := append(sparseMap, 'A')
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "GNUSparseFile.0/big", Mode: 0o644, Size: int64(len(data)), Format: tar.FormatUSTAR, ModTime: time.Unix(1600000000, 0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestApplyRefusesSparseBomb(t *testing.T) {
	requireRoot(t)
	bomb := sparseTar(t, 4400<<20) // 4.4 GB from a few hundred bytes
	t.Logf("sparse tar: %d bytes", len(bomb))
	_, d := sandbox(t)
	var stats layer.ApplyStats
	err := layer.Apply(bytes.NewReader(bomb), d, layer.ApplyOptions{MaxSize: 64 << 20, Stats: &stats})
	if !errors.Is(err, layer.ErrTooLarge) || !strings.Contains(err.Error(), `entry "big"`) {
		t.Fatalf("Apply error = %v, want ErrTooLarge naming entry \"big\"", err)
	}
	// Size counts the bytes read from the entries: refused promptly is
	// refused after reading just over the bound, not the 4.4 GB.
	if stats.Size <= 64<<20 || stats.Size > 65<<20 {
		t.Errorf("stats.Size = %d, want just over the bound: Apply read on past it", stats.Size)
	}
}

func TestApplyWritesHolesAsHoles(t *testing.T) {
	requireRoot(t)
	const size = 256 << 20
	_, d := sandbox(t)
	var stats layer.ApplyStats
	if err := layer.Apply(bytes.NewReader(sparseTar(t, size)), d, layer.ApplyOptions{Stats: &stats}); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(d, "big"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != size || st.Blocks*512 > 1<<20 {
		t.Errorf("big: %d bytes taking %d on disk, want %d bytes as holes", st.Size, st.Blocks*512, size)
	}
	f, err := os.Open(filepath.Join(d, "big"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var last [2]byte
	if _, err := f.ReadAt(last[:], size-2); err != nil || last != [2]byte{0, 'A'} {
		t.Errorf("last bytes %q (%v), want \"\\x00A\"", last, err)
	}
	if stats.Size < size || stats.Entries != 1 {
		t.Errorf("stats %+v, want the logical size counted for 1 entry", stats)
	}
}

func TestApplyBoundsContentAndEntries(t *testing.T) {
	requireRoot(t)
	zeros := strings.Repeat("\x00", 8<<20)
	for _, tc := range []struct {
		name  string
		files []file
		max   int64
		want  string
	}{
		{"zeros", []file{dir("d"), reg("d/zeros", zeros)}, 1 << 20, `entry "d/zeros"`},
		{"many entries", manyEmpty(200), 64 << 10, `entry "f12`},
		{"long name", []file{reg(strings.Repeat("a/", 2100)+"x", "")}, 0, "longer than 4096"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, d := sandbox(t)
			err := layer.Apply(makeTar(t, tc.files...), d, layer.ApplyOptions{MaxSize: tc.max})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Apply error = %v, want one containing %q", err, tc.want)
			}
		})
	}
	// Within the bound, zeros are written as holes and read back as zeros.
	_, d := sandbox(t)
	if err := layer.Apply(makeTar(t, reg("zeros", zeros+"end")), d, layer.ApplyOptions{MaxSize: 9 << 20}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(d, "zeros"))
	if err != nil || string(data) != zeros+"end" {
		t.Errorf("zeros: %d bytes (%v), want the content back", len(data), err)
	}
}

func manyEmpty(n int) []file {
	var fs []file
	for i := 0; i < n; i++ {
		fs = append(fs, reg("f"+itoa(int64(i)), ""))
	}
	return fs
}
