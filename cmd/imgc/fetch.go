package main

import (
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/internal/fetch"
	"github.com/imgc-dev/imgc/store"
)

// sourceFetcher resolves add steps' remote sources for the compiler when a
// build (or a plan file) needs real keys: URLs download into the store's
// downloads/, which the build then reads.
type sourceFetcher struct {
	e *env
	s *store.Store
}

func (f sourceFetcher) URL(rawURL string) (string, error) {
	h, err := local.Downloader(f.s).Resolve(f.e.ctx, rawURL)
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

func (f sourceFetcher) Git(remote, ref string) (string, error) {
	return fetch.Git{}.Resolve(f.e.ctx, remote, ref)
}
