// Package fetch gets the remote sources of add steps: a URL's content
// (HTTP) and a git repository's commit (with the system git binary). The
// compiler learns their digests through it before keys are computed, as
// BuildKit's http and git sources resolve at solve time, and the local
// engine reads the content from where it left it.
//
// It deliberately keeps no cache index of its own besides one small record
// per URL (its ETag, Last-Modified and the content's digest) next to the
// downloads, and it never decides what enters a cache key.
package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/internal/hashio"
)

// DefaultMaxSize bounds one download: 4 GiB.
const DefaultMaxSize int64 = 4 << 30

// Downloader downloads URLs into Dir, one file per content digest (its
// hex), and remembers each URL's validators so that a download that has
// not changed is not downloaded again.
type Downloader struct {
	// Dir holds the downloads by digest hex (the store's downloads/).
	Dir string
	// Temp is where partial downloads go: on Dir's filesystem.
	Temp string
	// MaxSize bounds a download; 0 is DefaultMaxSize.
	MaxSize int64
	// Client is the HTTP client; nil is http.DefaultClient.
	Client *http.Client
}

// StatusError is a download the server refused.
type StatusError struct {
	URL    string
	Status string
	Code   int
}

func (e *StatusError) Error() string { return fmt.Sprintf("downloading %s: %s", e.URL, e.Status) }

// TooLargeError is a download larger than the bound.
type TooLargeError struct {
	URL string
	Max int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("downloading %s: larger than the limit of %d bytes", e.URL, e.Max)
}

// record is what is kept of a URL between builds.
type record struct {
	URL          string `json:"url"`
	Digest       string `json:"digest"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

// Path is where the content with digest h is kept.
func (d *Downloader) Path(h v1.Hash) string { return filepath.Join(d.Dir, h.Hex) }

func (d *Downloader) recordPath(rawURL string) string {
	sum := sha256.Sum256([]byte(rawURL))
	return filepath.Join(d.Dir, "urls", hex.EncodeToString(sum[:])+".json")
}

// Resolve returns the digest of what rawURL serves now, downloading it
// unless the server says (by ETag or Last-Modified, as to BuildKit's http
// source) that an earlier download is still current.
func (d *Downloader) Resolve(ctx context.Context, rawURL string) (v1.Hash, error) {
	var prev *record
	if b, err := os.ReadFile(d.recordPath(rawURL)); err == nil {
		var r record
		if json.Unmarshal(b, &r) == nil && r.URL == rawURL {
			if h, err := v1.NewHash(r.Digest); err == nil && exists(d.Path(h)) {
				prev = &r
			}
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("downloading %s: %w", rawURL, err)
	}
	if prev != nil {
		if prev.ETag != "" {
			req.Header.Set("If-None-Match", prev.ETag)
		}
		if prev.LastModified != "" {
			req.Header.Set("If-Modified-Since", prev.LastModified)
		}
	}
	resp, err := d.client().Do(req)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("downloading %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && prev != nil {
		h, _ := v1.NewHash(prev.Digest)
		return h, nil
	}
	if resp.StatusCode != http.StatusOK {
		return v1.Hash{}, &StatusError{URL: rawURL, Status: resp.Status, Code: resp.StatusCode}
	}
	h, err := d.save(rawURL, resp.Body, nil)
	if err != nil {
		return v1.Hash{}, err
	}
	r := record{URL: rawURL, Digest: h.String(), ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
	if r.ETag != "" || r.LastModified != "" {
		d.writeRecord(r)
	}
	return h, nil
}

// Get returns the path of rawURL's content, which must have digest want:
// a download kept earlier, or a new one checked against want.
func (d *Downloader) Get(ctx context.Context, rawURL string, want v1.Hash) (string, error) {
	if p := d.Path(want); exists(p) {
		return p, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return "", fmt.Errorf("downloading %s: %w", rawURL, err)
	}
	resp, err := d.client().Do(req)
	if err != nil {
		return "", fmt.Errorf("downloading %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", &StatusError{URL: rawURL, Status: resp.Status, Code: resp.StatusCode}
	}
	if _, err := d.save(rawURL, resp.Body, &want); err != nil {
		return "", err
	}
	return d.Path(want), nil
}

// save writes body to Dir under its digest, at most MaxSize bytes, and
// checks it against want when given.
func (d *Downloader) save(rawURL string, body io.Reader, want *v1.Hash) (v1.Hash, error) {
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return v1.Hash{}, err
	}
	f, err := os.CreateTemp(d.Temp, "download-")
	if err != nil {
		return v1.Hash{}, err
	}
	defer os.Remove(f.Name())
	limit := d.MaxSize
	if limit <= 0 {
		limit = DefaultMaxSize
	}
	hw := hashio.NewWriter(f)
	n, err := io.Copy(hw, io.LimitReader(body, limit+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return v1.Hash{}, fmt.Errorf("downloading %s: %w", rawURL, err)
	}
	if n > limit {
		return v1.Hash{}, &TooLargeError{URL: rawURL, Max: limit}
	}
	got := hw.Sum()
	if want != nil && got != *want {
		return v1.Hash{}, fmt.Errorf("downloading %s: checksum mismatch: got %s, want %s", rawURL, got, *want)
	}
	if err := os.Rename(f.Name(), d.Path(got)); err != nil {
		return v1.Hash{}, err
	}
	return got, nil
}

func (d *Downloader) writeRecord(r record) {
	p := d.recordPath(r.URL)
	b, _ := json.Marshal(r)
	if os.MkdirAll(filepath.Dir(p), 0o755) != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), "record-")
	if err != nil {
		return
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil && cerr == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
}

func (d *Downloader) client() *http.Client {
	if d.Client != nil {
		return d.Client
	}
	return http.DefaultClient
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
