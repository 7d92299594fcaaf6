package local

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/imgc-dev/imgc/imageio"
)

// TestFetchWaiterTakesAFinalError: a layer waiting on a download another
// caller owns gets that download's error as soon as it ends, even one
// that looks like a cancellation (a network timeout is a
// DeadlineExceeded), instead of waiting for it again and again.
func TestFetchWaiterTakesAFinalError(t *testing.T) {
	c := &sharedCache{fetches: map[fetchID]*fetchOnce{}, sem: make(chan struct{}, fetchParallelism)}
	h := cacheHit{src: &imageio.CacheSource{}}
	timeout := fmt.Errorf("downloading blob: dial tcp: %w", context.DeadlineExceeded)
	f := &fetchOnce{done: make(chan struct{}), err: timeout}
	close(f.done)
	c.fetches[fetchID{src: h.src, layer: h.rec.Layer()}] = f
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := c.fetch(ctx, h); !errors.Is(err, timeout) {
		t.Errorf("fetch: %v, want the owner's error %v", err, timeout)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("fetch returned after %v: it waited on a finished download", d)
	}
}

// TestDownloadAfterCancel: a download whose build attempt is over does
// not start, though a slot is free.
func TestDownloadAfterCancel(t *testing.T) {
	c := &sharedCache{fetches: map[fetchID]*fetchOnce{}, sem: make(chan struct{}, fetchParallelism)}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 100 { // select would pick the free slot about half the time
		if err := c.download(ctx, cacheHit{src: &imageio.CacheSource{}}); !errors.Is(err, context.Canceled) {
			t.Fatalf("download after cancel: %v, want context.Canceled", err)
		}
	}
}
