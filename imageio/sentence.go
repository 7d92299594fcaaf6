package imageio

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ProblemSentence says in one sentence why a registry could not be
// used, for the errors that the network and go-containerregistry report
// as chains ("Get \"https://…\": dial tcp: lookup … no such host"); ""
// when err is none of them.
func ProblemSentence(err error) string {
	host := ""
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			host = u.Host
		}
	}
	var dns *net.DNSError
	var te *transport.Error
	var ca x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.As(err, &dns):
		return fmt.Sprintf("the registry %s cannot be found: its name does not resolve (check the name, and this machine's network and DNS)", dns.Name)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("the registry %s refused the connection: nothing listens there (check the host and port, and that the registry runs)", orHost(host))
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Sprintf("the registry %s did not answer in time (check this machine's network, or try again)", orHost(host))
	case errors.As(err, &ca) || errors.As(err, &hn) || errors.As(err, &ci):
		return fmt.Sprintf("the registry %s has a certificate imgc cannot verify: if you trust it, pass --insecure-registry %s (or list it in the registries file, see docs/cli.md)", orHost(host), orHost(host))
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Sprintf("the registry %s speaks plain HTTP: if you trust it, pass --insecure-registry %s (or list it in the registries file, see docs/cli.md)", orHost(host), orHost(host))
	case errors.As(err, &te):
		return transportSentence(te, host)
	}
	return ""
}

func transportSentence(te *transport.Error, host string) string {
	where := "the registry"
	if te.Request != nil && te.Request.URL != nil {
		where = "the registry " + te.Request.URL.Host
		host = te.Request.URL.Host
	}
	for _, d := range te.Errors {
		switch d.Code {
		case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode:
			return fmt.Sprintf("%s has no such image or tag (%s)", where, strings.ToLower(d.Message))
		case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
			return fmt.Sprintf("%s refused access: log in with imgc login %s, or check the name", where, orHost(host))
		}
	}
	switch te.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Sprintf("%s refused access: log in with imgc login %s, or check the name", where, orHost(host))
	case http.StatusNotFound:
		return fmt.Sprintf("%s has no such image or tag", where)
	case http.StatusTooManyRequests:
		return fmt.Sprintf("%s limits requests and refused this one after retries: wait, or log in to raise the limit", where)
	}
	if te.StatusCode >= 500 {
		return fmt.Sprintf("%s failed (HTTP %d) after retries: try again later", where, te.StatusCode)
	}
	return ""
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func orHost(h string) string {
	if h == "" {
		return "(unknown host)"
	}
	return h
}

// Sentence is err as a warning says it: ProblemSentence when it knows
// the trouble, else err's own text.
func Sentence(err error) string {
	if msg := ProblemSentence(err); msg != "" {
		return msg
	}
	return err.Error()
}
