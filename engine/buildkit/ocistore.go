package buildkit

import (
	"context"
	"fmt"
	"sync"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// servedStore is the store's blobs as the daemon sees them through the
// session: read-only, and only the blobs of this build's bases (their
// manifests, configs and layers), so a shared or remote daemon cannot
// read the other images a user keeps in imgc's store.
type servedStore struct {
	content.Store
	mu      sync.Mutex
	allowed map[digest.Digest]bool
}

func newServedStore(s content.Store) *servedStore {
	return &servedStore{Store: s, allowed: map[digest.Digest]bool{}}
}

func (s *servedStore) allow(ds ...digest.Digest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range ds {
		s.allowed[d] = true
	}
}

func (s *servedStore) ok(d digest.Digest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.allowed[d]
}

func (s *servedStore) Info(ctx context.Context, d digest.Digest) (content.Info, error) {
	if !s.ok(d) {
		return content.Info{}, fmt.Errorf("content %s: %w", d, errdefs.ErrNotFound)
	}
	return s.Store.Info(ctx, d)
}

func (s *servedStore) ReaderAt(ctx context.Context, desc ocispecs.Descriptor) (content.ReaderAt, error) {
	if !s.ok(desc.Digest) {
		return nil, fmt.Errorf("content %s: %w", desc.Digest, errdefs.ErrNotFound)
	}
	return s.Store.ReaderAt(ctx, desc)
}

func (s *servedStore) Walk(ctx context.Context, fn content.WalkFunc, filters ...string) error {
	return s.Store.Walk(ctx, func(info content.Info) error {
		if !s.ok(info.Digest) {
			return nil
		}
		return fn(info)
	}, filters...)
}

func (s *servedStore) Update(context.Context, content.Info, ...string) (content.Info, error) {
	return content.Info{}, fmt.Errorf("the store is read-only to the builder: %w", errdefs.ErrNotImplemented)
}

func (s *servedStore) Delete(context.Context, digest.Digest) error {
	return fmt.Errorf("the store is read-only to the builder: %w", errdefs.ErrNotImplemented)
}

func (s *servedStore) Writer(context.Context, ...content.WriterOpt) (content.Writer, error) {
	return nil, fmt.Errorf("the store is read-only to the builder: %w", errdefs.ErrNotImplemented)
}
