package fetch

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/internal/gittest"
)

func TestResolveDownloadsOnceWhileUnchanged(t *testing.T) {
	body := "hello\n"
	var full, notModified atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		etag := `"` + body + `"`
		etag = strings.ReplaceAll(etag, "\n", "")
		if r.Header.Get("If-None-Match") == etag {
			notModified.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		full.Add(1)
		w.Header().Set("ETag", etag)
		w.Write([]byte(body))
	}))
	defer srv.Close()
	d := &Downloader{Dir: t.TempDir(), Temp: t.TempDir()}
	ctx := context.Background()
	h1, err := d.Resolve(ctx, srv.URL+"/f")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(d.Path(h1)); string(got) != body {
		t.Fatalf("downloaded %q, want %q", got, body)
	}
	h2, err := d.Resolve(ctx, srv.URL+"/f")
	if err != nil {
		t.Fatal(err)
	}
	if h1 != h2 || full.Load() != 1 || notModified.Load() != 1 {
		t.Fatalf("second resolve: %s vs %s, %d full and %d not-modified responses; want the same digest, 1 and 1", h1, h2, full.Load(), notModified.Load())
	}
	body = "changed\n"
	h3, err := d.Resolve(ctx, srv.URL+"/f")
	if err != nil {
		t.Fatal(err)
	}
	if h3 == h1 {
		t.Fatalf("changed content kept digest %s", h1)
	}
	// Get reuses the download by digest without asking the server.
	p, err := d.Get(ctx, "http://127.0.0.1:1/unreachable", h3)
	if err != nil || p != d.Path(h3) {
		t.Fatalf("Get = %q, %v; want %q", p, err, d.Path(h3))
	}
}

func TestResolveErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Write(make([]byte, 2048))
	}))
	defer srv.Close()
	d := &Downloader{Dir: t.TempDir(), Temp: t.TempDir(), MaxSize: 1024}
	_, err := d.Resolve(context.Background(), srv.URL+"/missing")
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 404 || !strings.Contains(err.Error(), srv.URL+"/missing") {
		t.Errorf("missing: %v; want a 404 StatusError naming the URL", err)
	}
	_, err = d.Resolve(context.Background(), srv.URL+"/big")
	var tl *TooLargeError
	if !errors.As(err, &tl) {
		t.Errorf("big: %v; want a TooLargeError", err)
	}
	entries, _ := os.ReadDir(d.Dir)
	if len(entries) != 0 {
		t.Errorf("failed downloads left %d entries in the downloads", len(entries))
	}
	_, err = d.Get(context.Background(), srv.URL+"/small", v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)})
	if err == nil || !strings.Contains(err.Error(), "larger than the limit") {
		t.Errorf("Get of a big file: %v", err)
	}
}

func TestGitResolveAndCheckout(t *testing.T) {
	remote, commits := gittest.Server(t)
	g := Git{}
	ctx := context.Background()
	for _, tc := range []struct{ ref, want string }{
		{"", commits["main"]},
		{"main", commits["main"]},
		{"v1", commits["v1"]},
		{commits["v1"], commits["v1"]},
	} {
		got, err := g.Resolve(ctx, remote, tc.ref)
		if err != nil || got != tc.want {
			t.Errorf("Resolve(%q) = %s, %v; want %s", tc.ref, got, err, tc.want)
		}
	}
	if _, err := g.Resolve(ctx, remote, "nope"); err == nil || !strings.Contains(err.Error(), "no such branch or tag") {
		t.Errorf("Resolve(nope) = %v; want no such branch or tag", err)
	}
	dir := filepath.Join(t.TempDir(), "co")
	if err := g.Checkout(ctx, remote, "v1", commits["v1"], dir, CheckoutOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "sub", "file.txt")); err != nil || string(b) != "v1\n" {
		t.Errorf("checkout of v1: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".git")); !os.IsNotExist(err) {
		t.Errorf("checkout without keepGitDir has .git: %v", err)
	}
	dir2 := filepath.Join(t.TempDir(), "co")
	if err := g.Checkout(ctx, remote, "main", commits["main"], dir2, CheckoutOptions{KeepGitDir: true}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "-C", dir2, "rev-parse", "HEAD").Output()
	if err != nil || strings.TrimSpace(string(out)) != commits["main"] {
		t.Errorf("kept .git at %q, %v; want %s", out, err, commits["main"])
	}
	if err := g.Checkout(ctx, remote, "main", commits["v1"], filepath.Join(t.TempDir(), "co"), CheckoutOptions{}); err == nil || !strings.Contains(err.Error(), "move since") {
		t.Errorf("checkout of a moved ref: %v", err)
	}
}

// TestGitCheckoutSubmodules: a checkout has its submodules by default (as
// BuildKit's git source), and none with Submodules false.
func TestGitCheckoutSubmodules(t *testing.T) {
	remote, commits := gittest.Server(t)
	super := gittest.SuperURL(remote)
	g := Git{}
	ctx := context.Background()
	with := filepath.Join(t.TempDir(), "co")
	if err := g.Checkout(ctx, super, "", commits["super"], with, CheckoutOptions{Submodules: true}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(with, "lib", "lib.txt")); err != nil || string(b) != "lib\n" {
		t.Errorf("checkout with submodules: lib/lib.txt %q, %v", b, err)
	}
	// Without the superproject's .git, the submodule's .git file would
	// point nowhere: it goes too.
	if _, err := os.Lstat(filepath.Join(with, "lib", ".git")); !os.IsNotExist(err) {
		t.Errorf("checkout with submodules keeps lib/.git: %v", err)
	}
	without := filepath.Join(t.TempDir(), "co")
	if err := g.Checkout(ctx, super, "", commits["super"], without, CheckoutOptions{}); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(without, "lib"))
	if err != nil || len(entries) != 0 {
		t.Errorf("checkout without submodules: lib holds %v, %v; want an empty directory", entries, err)
	}
}
