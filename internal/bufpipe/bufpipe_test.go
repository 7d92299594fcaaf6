package bufpipe

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// TestStream sends writes of every size through the pipe and reads them
// back in reads of other sizes, beside the writer.
func TestStream(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	want := make([]byte, 5*chunkSize*depth/2+12345)
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	for _, wsize := range []int{1, 511, 32 << 10, chunkSize, chunkSize + 1, 3 * chunkSize} {
		r, w := New()
		go func() {
			for rest := want; len(rest) > 0; {
				n := min(wsize, len(rest))
				if m, err := w.Write(rest[:n]); m != n || err != nil {
					t.Errorf("write of %d: %d, %v", n, m, err)
				}
				rest = rest[n:]
			}
			w.Close()
		}()
		var got bytes.Buffer
		buf := make([]byte, 7000)
		for {
			n, err := r.Read(buf)
			got.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("writes of %d: read %d bytes, not the %d written", wsize, got.Len(), len(want))
		}
	}
}

// TestWriteTo: io.Copy from the read end (Reader.WriteTo, chunk by
// chunk) after a partial Read gives every byte, and the writer's error.
func TestWriteTo(t *testing.T) {
	want := bytes.Repeat([]byte("0123456789"), chunkSize)
	for _, end := range []error{nil, errors.New("boom")} {
		r, w := New()
		go func() {
			for rest := want; len(rest) > 0; rest = rest[min(len(rest), 70000):] {
				w.Write(rest[:min(len(rest), 70000)])
			}
			w.CloseWithError(end)
		}()
		head := make([]byte, 1000)
		if _, err := io.ReadFull(r, head); err != nil && end == nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		n, err := io.Copy(&got, r)
		if end != nil {
			if err != end {
				t.Errorf("io.Copy after CloseWithError: %v, want %v", err, end)
			}
			continue
		}
		if err != nil || n != int64(len(want)-1000) || !bytes.Equal(append(head, got.Bytes()...), want) {
			t.Errorf("io.Copy: %d bytes, %v; want the other %d bytes", n, err, len(want)-1000)
		}
	}
}

// TestWriterError: the reader sees the writer's error at its next read,
// as with io.Pipe, not after what is still buffered.
func TestWriterError(t *testing.T) {
	r, w := New()
	boom := errors.New("boom")
	w.Write(bytes.Repeat([]byte("abc"), chunkSize))
	w.CloseWithError(boom)
	got, err := io.ReadAll(r)
	if len(got) != 0 || err != boom {
		t.Errorf("read %d bytes, %v; want none, boom", len(got), err)
	}
}

// TestReaderClosed: a writer waiting on a full buffer is released when the
// reader closes, and later writes fail with the reader's error.
func TestReaderClosed(t *testing.T) {
	r, w := New()
	gone := errors.New("reader gone")
	done := make(chan error, 1)
	go func() {
		big := make([]byte, (depth+3)*chunkSize)
		_, err := w.Write(big) // more than the buffer holds: blocks
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("a write larger than the buffer returned before anything was read: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	r.CloseWithError(gone)
	select {
	case err := <-done:
		if err != gone {
			t.Errorf("blocked write: %v, want the reader's error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the write stayed blocked after the reader closed")
	}
	if _, err := w.Write([]byte("x")); err != gone {
		t.Errorf("write after the reader closed: %v", err)
	}
}

// TestReadFrom: ReadFrom passes everything through, after what Write
// left in a chunk, and reports the source's error but not its EOF.
func TestReadFrom(t *testing.T) {
	want := bytes.Repeat([]byte("0123456789abcdef"), chunkSize/4+3)
	r, w := New()
	go func() {
		w.Write([]byte("head"))
		if n, err := w.ReadFrom(bytes.NewReader(want)); n != int64(len(want)) || err != nil {
			t.Errorf("ReadFrom: %d, %v", n, err)
		}
		w.Close()
	}()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, append([]byte("head"), want...)) {
		t.Errorf("read %d bytes, %v; want %d", len(got), err, len(want)+4)
	}

	// A truncated stream's io.ErrUnexpectedEOF is an error, not an end.
	r, w = New()
	n, err := w.ReadFrom(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(io.ErrUnexpectedEOF)))
	if n != 3 || err != io.ErrUnexpectedEOF {
		t.Errorf("ReadFrom of a truncated stream: %d, %v; want 3, io.ErrUnexpectedEOF", n, err)
	}
	w.CloseWithError(err)
	if _, err := io.ReadAll(r); err != io.ErrUnexpectedEOF {
		t.Errorf("reading a truncated stream: %v", err)
	}
}
