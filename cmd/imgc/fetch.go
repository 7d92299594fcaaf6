package main

import (
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/internal/fetch"
	"github.com/imgc-dev/imgc/store"
)

// sourceFetcher resolves add steps' remote sources for the compiler when a
// build (or a plan file) needs real keys: URLs download into the store's
// downloads/, which the build then reads.
func sourceFetcher(e *env, s *store.Store) fetch.Resolver {
	return fetch.Resolver{Ctx: e.ctx, Downloads: local.Downloader(s), Repos: local.GitFor(e.sshAgents)}
}
