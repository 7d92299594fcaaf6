package imageio

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// registryBackoff spaces the attempts of a whole registry operation (a
// blob upload, a manifest put, a pull's request): ten tries over about 11s,
// like docker push, which retries each layer upload with backoff. Retrying
// is safe because every write is keyed by its digest: an upload that
// reached the registry before its answer was lost is found by the next
// attempt's existence check.
var registryBackoff = remote.Backoff{Duration: 100 * time.Millisecond, Factor: 1.6, Jitter: 0.2, Steps: 10}

// requestBackoff spaces the tries of one HTTP request that can be sent
// again (it has no body, or one that can be re-read).
var requestBackoff = remote.Backoff{Duration: 50 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 5}

// retryStatusCodes are the answers that say "try again later".
var retryStatusCodes = []int{
	http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
	http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout,
}

// registryOptions are the options of every push and pull: authentication
// from the Docker config, cancellation, and retries with backoff at two
// levels. go-containerregistry retries a whole blob upload or manifest put
// (WithRetryBackoff, WithRetryPredicate, WithRetryStatusCodes) but sends
// the requests inside an upload only once, so under a registry that fails
// some requests an upload of four requests would seldom get through:
// retryTransport below also sends again each request that can be.
func registryOptions(ctx context.Context, more ...remote.Option) []remote.Option {
	return append(retryingOptions(ctx, retryable), more...)
}

// retryingOptions are the options of a registry operation that tries
// again what retry accepts. Its requests are tried again on their own
// only for what says "later" or a connection that broke: a registry that
// refuses connections is left to the whole operation's retries (both
// levels made a push to a registry that was down take 21 s, not 11).
func retryingOptions(ctx context.Context, retry func(error) bool) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithTransport(&retryTransport{inner: newInsecureTransport(remote.DefaultTransport), backoff: requestBackoff, retryable: retryableRead}),
		remote.WithRetryBackoff(registryBackoff),
		remote.WithRetryStatusCodes(retryStatusCodes...),
		remote.WithRetryPredicate(retry),
	}
}

// cacheOptions are registryOptions for reading or writing a shared cache,
// which a build can do without: a registry that refuses the connection or
// whose name does not resolve is not tried again (BuildKit's resolver
// does not retry those either), so a cache registry that is down costs a
// build a warning at once (or, for an export without ignore-error, its
// failure), not the 11 s a push spends retrying. Answers that say "later"
// (5xx, 429) and broken connections are retried as for a push.
func cacheOptions(ctx context.Context) []remote.Option {
	return retryingOptions(ctx, retryableRead)
}

// retryableRead is retryable less what says the registry is not there:
// a refused connection, a name that does not resolve.
func retryableRead(err error) bool {
	var dnsErr *net.DNSError
	if errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dnsErr) {
		return false
	}
	return retryable(err)
}

// retryable says whether a failed registry operation may succeed if tried
// again: a temporary registry error (5xx, 429, 408, or the registry's own
// "unavailable" codes) or a broken connection; never a cancellation.
func retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		if te.Temporary() {
			return true
		}
		for _, c := range retryStatusCodes {
			if te.StatusCode == c {
				return true
			}
		}
		return false
	}
	var tmp interface{ Temporary() bool }
	if errors.As(err, &tmp) && tmp.Temporary() {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, net.ErrClosed)
}

// retryTransport sends a request again, with backoff, when the connection
// failed or the registry answered with one of retryStatusCodes, as long as
// the request has no body or one it can re-read (GetBody).
type retryTransport struct {
	inner     http.RoundTripper
	backoff   remote.Backoff
	retryable func(error) bool
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	delay := t.backoff.Duration
	for try := 1; ; try++ {
		r := req
		if try > 1 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r = req.Clone(req.Context())
			r.Body = body
		}
		resp, err := t.inner.RoundTrip(r)
		again := err != nil && t.retryable(err)
		if err == nil {
			for _, c := range retryStatusCodes {
				again = again || resp.StatusCode == c
			}
		}
		if !again || !replayable || try >= t.backoff.Steps {
			return resp, err
		}
		if resp != nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		wait := delay + time.Duration(t.backoff.Jitter*float64(delay)*rand.Float64())
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-time.After(wait):
		}
		delay = time.Duration(float64(delay) * t.backoff.Factor)
	}
}
