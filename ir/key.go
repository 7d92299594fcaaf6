package ir

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// CacheKey identifies a layer's result: equal keys mean the layer is reused.
// It is shaped like go-containerregistry's v1.Hash: a validating parser,
// String() giving "sha256:<hex>", text marshalling, and usable as a map key.
type CacheKey struct {
	hex string
}

// ParseCacheKey parses "sha256:<64 hex digits>".
func ParseCacheKey(s string) (CacheKey, error) {
	h, ok := strings.CutPrefix(s, "sha256:")
	if !ok {
		return CacheKey{}, fmt.Errorf("parsing cache key %q: it does not start with \"sha256:\"", s)
	}
	if len(h) != 64 {
		return CacheKey{}, fmt.Errorf("parsing cache key %q: want 64 hex digits, have %d", s, len(h))
	}
	if _, err := hex.DecodeString(h); err != nil {
		return CacheKey{}, fmt.Errorf("parsing cache key %q: %w", s, err)
	}
	return CacheKey{hex: strings.ToLower(h)}, nil
}

// KeyOf hashes already-canonical key material.
func KeyOf(material []byte) CacheKey {
	sum := sha256.Sum256(material)
	return CacheKey{hex: hex.EncodeToString(sum[:])}
}

// IsZero reports whether k is the zero key (no layer).
func (k CacheKey) IsZero() bool { return k.hex == "" }

// Hex is the bare hex digest, for file names.
func (k CacheKey) Hex() string { return k.hex }

// Short is the first 12 hex digits, for people.
func (k CacheKey) Short() string {
	if len(k.hex) < 12 {
		return k.hex
	}
	return k.hex[:12]
}

func (k CacheKey) String() string {
	if k.hex == "" {
		return ""
	}
	return "sha256:" + k.hex
}

func (k CacheKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

func (k *CacheKey) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*k = CacheKey{}
		return nil
	}
	p, err := ParseCacheKey(string(b))
	if err != nil {
		return err
	}
	*k = p
	return nil
}
