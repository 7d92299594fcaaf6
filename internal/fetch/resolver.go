package fetch

import "context"

// Resolver resolves remote sources for the compiler (compiler.Fetcher):
// URLs by downloading them with Downloads, git refs with Repos.
type Resolver struct {
	Ctx       context.Context
	Downloads *Downloader
	Repos     Git
}

// URL returns the digest of what rawURL serves now.
func (r Resolver) URL(rawURL string) (string, error) {
	h, err := r.Downloads.Resolve(r.Ctx, rawURL)
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

// Git returns the commit ref names at remote.
func (r Resolver) Git(remote, ref string) (string, error) {
	return r.Repos.Resolve(r.Ctx, remote, ref)
}
