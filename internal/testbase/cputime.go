package testbase

import (
	"time"

	"golang.org/x/sys/unix"
)

// CPUTime is the user and system time of this process and of the children
// it has waited for: what a benchmark of steps reports besides wall time,
// which says less on a loaded machine.
func CPUTime() time.Duration {
	var total time.Duration
	for _, who := range []int{unix.RUSAGE_SELF, unix.RUSAGE_CHILDREN} {
		var ru unix.Rusage
		if unix.Getrusage(who, &ru) == nil {
			total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return total
}
