package integration

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgc-dev/imgc/internal/gittest"
)

// serveRemotes starts the loopback servers a fidelity case asks for and
// passes their addresses as build arguments: a `www` directory is served
// over HTTP (HTTP_URL, without a trailing slash), and a `git-repo` file
// asks for gittest's repository (GIT_URL, its commits GIT_V1 and
// GIT_MAIN) and the one with a submodule beside it (GIT_SUPER_URL).
func serveRemotes(t *testing.T, dir string, args map[string]string) {
	t.Helper()
	if fi, err := os.Stat(filepath.Join(dir, "www")); err == nil && fi.IsDir() {
		srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(dir, "www"))))
		t.Cleanup(srv.Close)
		args["HTTP_URL"] = srv.URL
	}
	if _, err := os.Stat(filepath.Join(dir, "git-repo")); err == nil {
		url, commits := gittest.Server(t)
		args["GIT_URL"] = url
		args["GIT_V1"] = commits["v1"]
		args["GIT_MAIN"] = commits["main"]
		args["GIT_SUPER_URL"] = gittest.SuperURL(url)
	}
}
