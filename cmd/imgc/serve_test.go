package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/imgc-dev/imgc/internal/gittest"
)

// cmdHTTPServe serves the directory args[0] on 127.0.0.1 until the script
// ends (http.FileServer: Last-Modified and If-Modified-Since, as a static
// server does), sets $HTTPURL to its address and logs each request as
// "METHOD PATH STATUS" lines in args[0].log.
func cmdHTTPServe(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: httpserve DIR")
	}
	dir := ts.MkAbs(args[0])
	logPath := dir + ".log"
	var mu sync.Mutex
	files := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		files.ServeHTTP(rec, r)
		mu.Lock()
		defer mu.Unlock()
		f, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%s %s %d\n", r.Method, r.URL.Path, rec.status)
			f.Close()
		}
	}))
	ts.Defer(srv.Close)
	ts.Setenv("HTTPURL", srv.URL)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// cmdGitServe serves gittest's repository over HTTP (git http-backend) on
// 127.0.0.1 until the script ends, and sets $GITURL (the repository's
// URL), $GIT_V1 and $GIT_MAIN (its commits: v1 is tagged, main one later),
// $GITSUPER (a repository with the submodule lib at lib/) and $GIT_SUPER
// (its commit).
func cmdGitServe(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: gitserve")
	}
	url, commits, closeFn, err := gittest.Start(ts.MkAbs(filepath.Join(".gitserve")))
	ts.Check(err)
	ts.Defer(closeFn)
	ts.Setenv("GITURL", url)
	ts.Setenv("GIT_V1", commits["v1"])
	ts.Setenv("GIT_MAIN", commits["main"])
	ts.Setenv("GITSUPER", gittest.SuperURL(url))
	ts.Setenv("GIT_SUPER", commits["super"])
}

// cmdGoBuild builds the Go module in the directory args[1] into the static
// binary args[0] with the test's own Go environment (its build cache), for
// helpers that run inside build steps.
func cmdGoBuild(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: gobuild OUT DIR")
	}
	cmd := exec.Command("go", "build", "-o", ts.MkAbs(args[0]), ".")
	cmd.Dir = ts.MkAbs(args[1])
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		ts.Fatalf("go build: %v\n%s", err, out)
	}
}
