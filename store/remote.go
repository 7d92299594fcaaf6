package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// RemoteBlob is a layer blob an image of the store lists without the
// store holding it: a build that only pushed left it in a registry (a
// shared cache's repository, mounted across repositories on push). The
// blob is downloaded when something reads it (see SetBlobFetcher), and
// checked then against its digest, size and diff ID.
type RemoteBlob struct {
	// Repository is where the blob is, REGISTRY/REPOSITORY.
	Repository string          `json:"repository"`
	MediaType  types.MediaType `json:"mediaType"`
	Size       int64           `json:"size"`
	DiffID     v1.Hash         `json:"diffID"`
	// Source names the cache the record came from, for messages.
	Source string `json:"source"`
}

// BlobFetcher downloads the remote blob d into s and verifies it (digest,
// size, diff ID), removing what it wrote when a check fails.
type BlobFetcher func(ctx context.Context, s *Store, d v1.Hash, rb RemoteBlob) error

// SetBlobFetcher sets how the store gets a remote blob it lacks when
// something opens it (a layer to unpack, a blob to export or push). The
// store does no network I/O itself; without a fetcher a remote blob is
// missing.
func (s *Store) SetBlobFetcher(f BlobFetcher) { s.fetch = f }

func (s *Store) remotePath(d v1.Hash) string { return s.path("remote", d.Algorithm, d.Hex+".json") }

// PutRemoteBlob records that d, which the store lacks, is at rb.
func (s *Store) PutRemoteBlob(d v1.Hash, rb RemoteBlob) error {
	if err := os.MkdirAll(s.path("remote", d.Algorithm), 0o755); err != nil {
		return err
	}
	data, err := json.Marshal(rb)
	if err != nil {
		return err
	}
	return writeFileAtomic(s.remotePath(d), data)
}

// RemoteBlob returns the record of the remote blob d, if the store lacks
// d and has one.
func (s *Store) RemoteBlob(d v1.Hash) (RemoteBlob, bool) {
	if s.HasBlob(d) {
		return RemoteBlob{}, false
	}
	data, err := os.ReadFile(s.remotePath(d))
	if err != nil {
		return RemoteBlob{}, false
	}
	var rb RemoteBlob
	if err := json.Unmarshal(data, &rb); err != nil {
		return RemoteBlob{}, false
	}
	return rb, true
}

// ensureBlob downloads d through the fetcher when the store lacks it and
// has a remote record of it; other missing blobs stay missing.
func (s *Store) ensureBlob(ctx context.Context, d v1.Hash) error {
	if s.HasBlob(d) {
		return nil
	}
	rb, ok := s.RemoteBlob(d)
	if !ok || s.fetch == nil {
		return nil
	}
	lk, err := s.LockContext(ctx, "blob-"+d.Hex)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	if s.HasBlob(d) {
		return nil
	}
	if err := s.fetch(ctx, s, d, rb); err != nil {
		return fmt.Errorf("downloading layer %s of a pushed image from %s (the cache %s): %w", d, rb.Repository, rb.Source, err)
	}
	if err := os.Remove(s.remotePath(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
