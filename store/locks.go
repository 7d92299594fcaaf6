package store

import (
	"context"
	"fmt"
	"time"

	"github.com/gofrs/flock"
)

// Lock takes an exclusive file lock named name under locks/. Names
// starting with "key-" or "snap-" are removed by Prune.
func (s *Store) Lock(name string) (*flock.Flock, error) {
	l := flock.New(s.path("locks", name+".lock"))
	if err := l.Lock(); err != nil {
		return nil, fmt.Errorf("locking %s: %w", name, err)
	}
	return l, nil
}

// LockContext takes an exclusive file lock named name under locks/,
// waiting for it no longer than ctx allows (another build may hold it for
// as long as it takes to build a layer).
func (s *Store) LockContext(ctx context.Context, name string) (*flock.Flock, error) {
	l := flock.New(s.path("locks", name+".lock"))
	ok, err := l.TryLockContext(ctx, 20*time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", name, err)
	}
	if !ok {
		return nil, fmt.Errorf("locking %s: %w", name, ctx.Err())
	}
	return l, nil
}

// TryLock takes an exclusive file lock named name under locks/ if no one
// holds it, and tells whether it did.
func (s *Store) TryLock(name string) (*flock.Flock, bool, error) {
	l := flock.New(s.path("locks", name+".lock"))
	ok, err := l.TryLock()
	if err != nil {
		return nil, false, fmt.Errorf("locking %s: %w", name, err)
	}
	return l, ok, nil
}

// LockShared takes the store's lock shared, as a build does for as long as
// it runs: Prune, which takes it exclusively, waits for the builds.
func (s *Store) LockShared() (unlock func(), err error) {
	lk := s.storeLock()
	if err := lk.RLock(); err != nil {
		return nil, fmt.Errorf("locking the cache: %w", err)
	}
	return func() { lk.Unlock() }, nil
}

// storeLock is shared by builds and taken exclusively by Prune.
func (s *Store) storeLock() *flock.Flock {
	return flock.New(s.path("locks", "store.lock"))
}
