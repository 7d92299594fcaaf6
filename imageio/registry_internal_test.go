package imageio

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// A push retries a registry that refuses connections (it may be
// restarting); a cache read gives up at once, as BuildKit's resolver
// does, so that a cache registry that is down costs a build no time.
// Both retry what says "later".
func TestRetryableRead(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, c := range []struct {
		name        string
		err         error
		push, cache bool
	}{
		{"connection refused", fmt.Errorf("Get \"https://r.example/v2/\": %w", refused), true, false},
		{"no such host", &net.DNSError{Err: "no such host", Name: "r.example", IsNotFound: true}, false, false},
		{"connection reset", fmt.Errorf("reading: %w", syscall.ECONNRESET), true, true},
		{"503", &transport.Error{StatusCode: http.StatusServiceUnavailable}, true, true},
		{"404", &transport.Error{StatusCode: http.StatusNotFound}, false, false},
	} {
		if got := retryable(c.err); got != c.push {
			t.Errorf("%s: retryable = %v, want %v", c.name, got, c.push)
		}
		if got := retryableRead(c.err); got != c.cache {
			t.Errorf("%s: retryableRead = %v, want %v", c.name, got, c.cache)
		}
	}
}

// A cache or remote blob in a registry set insecure (--insecure-registry,
// registry.insecure=true) is reached over plain HTTP, whatever its name:
// go-containerregistry allows HTTP by itself only for localhost and
// private addresses.
func TestInsecureRepository(t *testing.T) {
	SetInsecureRegistries([]string{"registry:5000"})
	t.Cleanup(func() { SetInsecureRegistries(nil) })
	repo, err := parseRepository("registry:5000/team/app")
	if err != nil {
		t.Fatal(err)
	}
	if got := repo.Scheme(); got != "http" {
		t.Errorf("registry:5000/team/app: scheme %s, want http", got)
	}
	ref, err := ParseReference("registry:5000/team/cache:main")
	if err != nil {
		t.Fatal(err)
	}
	if got := ref.Context().Scheme(); got != "http" {
		t.Errorf("registry:5000/team/cache:main: scheme %s, want http", got)
	}
	if repo, _ := parseRepository("other:5000/team/app"); repo.Scheme() != "https" {
		t.Errorf("other:5000: scheme %s, want https", repo.Scheme())
	}
}
