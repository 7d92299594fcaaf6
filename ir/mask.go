package ir

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
)

// SensitiveToken stands for a sensitive value in display text and key
// inputs: "(sensitive:" and the first 12 hex digits of the value's SHA-256.
// It reveals nothing readable, yet changes when the value changes, so a
// key computed from inputs that show it still depends on the value.
func SensitiveToken(value string) string {
	sum := sha256.Sum256([]byte(value))
	return "(sensitive:" + hex.EncodeToString(sum[:])[:12] + ")"
}

// Masker returns a function that replaces every occurrence of each of
// values in a text with its SensitiveToken, longer values first (so a value
// holding another is replaced whole). Empty values are ignored; with none
// left it returns the text unchanged. Apply it once, to text that was
// never masked: a short value could occur inside a token.
func Masker(values []string) func(string) string {
	var vs []string
	for _, v := range values {
		if v != "" {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return func(s string) string { return s }
	}
	sort.Slice(vs, func(i, j int) bool {
		if len(vs[i]) != len(vs[j]) {
			return len(vs[i]) > len(vs[j])
		}
		return vs[i] < vs[j]
	})
	var pairs []string
	for _, v := range vs {
		pairs = append(pairs, v, SensitiveToken(v))
	}
	r := strings.NewReplacer(pairs...)
	return r.Replace
}
