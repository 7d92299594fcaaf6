// Package par runs the independent iterations of a loop on several
// goroutines.
package par

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// For calls f(0) ... f(n-1) on up to GOMAXPROCS goroutines, each taking
// the next index; a list of fewer than 256 is done on the calling one.
func For(n int, f func(int)) {
	workers := min(runtime.GOMAXPROCS(0), n/256+1)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				f(i)
			}
		}()
	}
	wg.Wait()
}
