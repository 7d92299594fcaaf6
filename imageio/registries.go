package imageio

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// insecure holds the registries (HOST or HOST:PORT) that imgc may reach
// over plain HTTP or HTTPS with a certificate it cannot verify, as
// Docker's insecure-registries setting.
var insecure struct {
	sync.RWMutex
	hosts map[string]bool
}

// SetInsecureRegistries sets the registries that may be reached over plain
// HTTP, or over HTTPS without verifying their certificate: every pull,
// push and base resolution made afterwards uses it.
func SetInsecureRegistries(hosts []string) {
	insecure.Lock()
	defer insecure.Unlock()
	insecure.hosts = map[string]bool{}
	for _, h := range hosts {
		insecure.hosts[strings.ToLower(strings.TrimSpace(h))] = true
	}
}

// AddInsecureRegistry sets the registry of ref (REG/REPO[:TAG]) insecure
// too, as a cache's registry.insecure=true asks.
func AddInsecureRegistry(ref string) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	insecure.Lock()
	defer insecure.Unlock()
	if insecure.hosts == nil {
		insecure.hosts = map[string]bool{}
	}
	insecure.hosts[strings.ToLower(r.Context().RegistryStr())] = true
	return nil
}

// isInsecure says whether host (HOST or HOST:PORT) was set insecure, by
// itself or by its host name without a port.
func isInsecure(host string) bool {
	insecure.RLock()
	defer insecure.RUnlock()
	host = strings.ToLower(host)
	if insecure.hosts[host] {
		return true
	}
	if h, _, ok := strings.Cut(host, ":"); ok && insecure.hosts[h] {
		return true
	}
	return false
}

// ParseReference parses a registry reference, allowing plain HTTP for
// the registries set insecure.
func ParseReference(s string) (name.Reference, error) {
	ref, err := name.ParseReference(s)
	if err != nil {
		return nil, err
	}
	if isInsecure(ref.Context().RegistryStr()) {
		return name.ParseReference(s, name.Insecure)
	}
	return ref, nil
}

// parseRepository parses a repository name, allowing plain HTTP for the
// registries set insecure.
func parseRepository(s string) (name.Repository, error) {
	repo, err := name.NewRepository(s)
	if err != nil {
		return name.Repository{}, err
	}
	if isInsecure(repo.RegistryStr()) {
		return name.NewRepository(s, name.Insecure)
	}
	return repo, nil
}

// insecureTransport skips certificate verification for the registries
// set insecure, and sends every other request through inner.
type insecureTransport struct {
	inner, skipVerify http.RoundTripper
}

func newInsecureTransport(inner http.RoundTripper) http.RoundTripper {
	t, ok := inner.(*http.Transport)
	if !ok {
		return inner
	}
	skip := t.Clone()
	skip.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // only for registries the user named insecure
	return &insecureTransport{inner: inner, skipVerify: skip}
}

func (t *insecureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if isInsecure(req.URL.Host) {
		return t.skipVerify.RoundTrip(req)
	}
	return t.inner.RoundTrip(req)
}

// RegistriesFile is the registry settings file: $IMGC_CONFIG when set, else
// $XDG_CONFIG_HOME/imgc/registries.json, else ~/.config/imgc/registries.json.
func RegistriesFile() string {
	if p := os.Getenv("IMGC_CONFIG"); p != "" {
		return p
	}
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "imgc", "registries.json")
}

// RegistrySettings is the registries file's content:
//
//	{"insecure_registries": ["registry.local:5000", "10.0.0.5"]}
type RegistrySettings struct {
	InsecureRegistries []string `json:"insecure_registries"`
}

// ReadRegistrySettings reads the file at path; a missing file is no
// settings, and $IMGC_CONFIG naming a missing file is an error.
func ReadRegistrySettings(path string) (RegistrySettings, error) {
	var rs RegistrySettings
	if path == "" {
		return rs, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && os.Getenv("IMGC_CONFIG") == "" {
		return rs, nil
	}
	if err != nil {
		return rs, fmt.Errorf("reading registry settings %s: %w", path, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rs); err != nil {
		return rs, fmt.Errorf("reading registry settings %s: %v (the file holds {\"insecure_registries\": [\"HOST:PORT\", ...]})", path, err)
	}
	return rs, nil
}

// CheckLogin signs in to the registry host with the user name and password,
// as docker login does before it saves them: it fails when the registry
// refuses them.
func CheckLogin(ctx context.Context, host, user, password string) error {
	reg, err := name.NewRegistry(host)
	if err != nil {
		return err
	}
	if isInsecure(reg.RegistryStr()) {
		reg, _ = name.NewRegistry(host, name.Insecure)
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: user, Password: password})
	inner := newInsecureTransport(remote.DefaultTransport)
	tr, err := transport.NewWithContext(ctx, reg, auth, inner, []string{reg.Scope(transport.PullScope)})
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
			return fmt.Errorf("the registry %s refused the user name or password", host)
		}
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reg.Scheme()+"://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return fmt.Errorf("the registry %s refused the user name or password", host)
	}
	return nil
}
