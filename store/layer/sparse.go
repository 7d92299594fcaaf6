package layer

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
)

// holeBlock is the granularity at which zeros become holes: the page and
// usual file system block size.
const holeBlock = 4096

var (
	zeroBlock [holeBlock]byte
	copyBufs  = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}
)

// copySparse copies exactly size bytes of r into the empty file f,
// leaving every all-zero block as a hole, so that a sparse tar entry (or a
// run of zeros) claiming gigabytes takes no disk space. It fails as
// copyExactly does when r holds fewer or more bytes.
func copySparse(f *os.File, r io.Reader, size int64) error {
	if size <= holeBlock {
		return copyExactly(f, r, size)
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var off int64
	for off < size {
		m, err := io.ReadFull(r, buf[:min(int64(len(buf)), size-off)])
		if m > 0 {
			if werr := writeNonZero(f, buf[:m], off); werr != nil {
				return werr
			}
			off += int64(m)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return contentShort(off, size)
		}
		if err != nil {
			return err
		}
	}
	// The holes at the end.
	if err := f.Truncate(size); err != nil {
		return err
	}
	var one [1]byte
	if m, _ := io.ReadFull(r, one[:]); m > 0 {
		return contentLong(size)
	}
	return nil
}

// writeNonZero writes the blocks of p that hold a non-zero byte at offset
// off of f, each run of them with one write.
func writeNonZero(f *os.File, p []byte, off int64) error {
	start := -1 // of the current run of data blocks
	for i := 0; i < len(p); i += holeBlock {
		end := min(i+holeBlock, len(p))
		zero := bytes.Equal(p[i:end], zeroBlock[:end-i])
		switch {
		case !zero && start < 0:
			start = i
		case zero && start >= 0:
			if _, err := f.WriteAt(p[start:i], off+int64(start)); err != nil {
				return err
			}
			start = -1
		}
	}
	if start >= 0 {
		if _, err := f.WriteAt(p[start:], off+int64(start)); err != nil {
			return err
		}
	}
	return nil
}
