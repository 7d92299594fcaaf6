// Package gittest serves a small git repository over HTTP on 127.0.0.1
// (git http-backend through net/http/cgi), for tests of git sources that
// must not reach the network. It needs the system git binary.
package gittest

import (
	"fmt"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Server makes a repository repo.git with two commits, the first tagged
// v1 and main at the second, each holding sub/file.txt ("v1\n", then
// "main\n") and README, and serves it until the test ends. It returns the
// repository's URL and the commits by name ("v1", "main"). Beside it,
// super.git (commit "super") holds super.txt and the submodule lib (of
// lib.git, holding lib.txt "lib\n") at lib/, by the relative URL
// ../lib.git: SuperURL gives its URL.
func Server(t testing.TB) (string, map[string]string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed (make deps installs it)")
	}
	url, commits, closeFn, err := Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeFn)
	return url, commits
}

// Start is Server below root, for callers without a testing.TB; closeFn
// stops the server.
func Start(root string) (url string, commits map[string]string, closeFn func(), err error) {
	gitPath, err := exec.LookPath("git")
	if err != nil {
		return "", nil, nil, err
	}
	work := filepath.Join(root, "work")
	bare := filepath.Join(root, "repo.git")
	var failed error
	git := func(dir string, args ...string) string {
		if failed != nil {
			return ""
		}
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
			"GIT_AUTHOR_DATE=2020-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2020-01-01T00:00:00Z")
		out, err := cmd.CombinedOutput()
		if err != nil {
			failed = fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	write := func(name, content string) {
		p := filepath.Join(work, name)
		err := os.MkdirAll(filepath.Dir(p), 0o755)
		if err == nil {
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil && failed == nil {
			failed = err
		}
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "", nil, nil, err
	}
	// The server first: super.git's submodule is added by its URL.
	srv := httptest.NewServer(&cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"},
	})
	git(work, "init", "-q", "-b", "main")
	write("README", "readme\n")
	write("sub/file.txt", "v1\n")
	git(work, "add", ".")
	git(work, "commit", "-q", "-m", "one")
	git(work, "tag", "-a", "v1", "-m", "v1")
	write("sub/file.txt", "main\n")
	git(work, "commit", "-q", "-am", "two")
	commits = map[string]string{"v1": git(work, "rev-parse", "v1^{commit}"), "main": git(work, "rev-parse", "main")}
	git(root, "clone", "-q", "--bare", work, bare)
	for _, name := range []string{"lib", "super"} {
		work = filepath.Join(root, name+"-work")
		if err := os.MkdirAll(work, 0o755); err != nil {
			srv.Close()
			return "", nil, nil, err
		}
		git(work, "init", "-q", "-b", "main")
		write(name+".txt", name+"\n")
		if name == "super" {
			// The submodule by a URL relative to the superproject's (so
			// its files are the same whatever the server's port), and
			// its commit recorded without cloning it.
			write(".gitmodules", "[submodule \"lib\"]\n\tpath = lib\n\turl = ../lib.git\n")
		}
		git(work, "add", ".")
		if name == "super" {
			git(work, "update-index", "--add", "--cacheinfo", "160000,"+commits["lib"]+",lib")
		}
		git(work, "commit", "-q", "-m", name)
		commits[name] = git(work, "rev-parse", "main")
		git(root, "clone", "-q", "--bare", work, filepath.Join(root, name+".git"))
	}
	if failed != nil {
		srv.Close()
		return "", nil, nil, failed
	}
	return srv.URL + "/repo.git", commits, srv.Close, nil
}

// SuperURL is the URL of super.git, the repository with a submodule,
// beside the repository URL that Server and Start return.
func SuperURL(url string) string {
	return strings.TrimSuffix(url, "/repo.git") + "/super.git"
}
