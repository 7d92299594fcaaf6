package ir

import (
	"encoding/binary"
	"strconv"
)

// The key material encoding: a version tag, then every field as its length
// (uvarint) followed by its bytes, so no two different field lists encode
// alike. Changing it invalidates every cache, so bump the tag when you do.
const (
	layerKeyTag = "imgc layer key v1"
	baseKeyTag  = "imgc base key v1"
)

type material []byte

func (m material) field(s string) material {
	m = binary.AppendUvarint(m, uint64(len(s)))
	return append(m, s...)
}

// LayerKey is the key of a layer with the given parent key and inputs, in
// their order.
func LayerKey(parent CacheKey, inputs []KeyInput) CacheKey {
	// Sized once: a copy of 50,000 files has 100,000 fields.
	n := 64 + len(layerKeyTag) + len(parent.hex)
	for _, in := range inputs {
		n += len(in.Name) + len(in.Value) + 2*binary.MaxVarintLen32
	}
	m := make(material, 0, n).field(layerKeyTag).field(parent.String()).field(strconv.Itoa(len(inputs)))
	for _, in := range inputs {
		m = m.field(in.Name).field(in.Value)
	}
	return KeyOf(m)
}

// ScratchKey is the base key of a target starting from scratch.
func ScratchKey(p Platform) CacheKey {
	return KeyOf(material(nil).field(baseKeyTag).field("scratch").field(p.String()))
}

// DigestBaseKey is the base key of an image known by its manifest digest.
// The platform is part of it because a digest may name an index.
func DigestBaseKey(digest string, p Platform) CacheKey {
	return KeyOf(material(nil).field(baseKeyTag).field("digest").field(digest).field(p.String()))
}

// TagBaseKey is the base key of an image known only by a tag (or a path)
// that has not been resolved to a digest: "tag:REF".
func TagBaseKey(ref string, p Platform) CacheKey {
	return KeyOf(material(nil).field(baseKeyTag).field("tag:" + ref).field(p.String()))
}

// TargetBaseKey is the base key of a target built on another target of
// the plan: that target's filesystem key, plus what its image config
// passes on to the run steps built on it (env and user, which the runtime
// takes from the base's config when a step sets none). A change to that
// config then invalidates the layers that can see it, and only those
// targets' layers. It is the filesystem key itself when nothing is passed
// on.
func TargetBaseKey(fs CacheKey, c ImageConfig) CacheKey {
	var in []KeyInput
	for _, e := range c.Env {
		in = append(in, KeyInput{Name: "inherited env", Value: e})
	}
	if c.User != "" {
		in = append(in, KeyInput{Name: "inherited user", Value: c.User})
	}
	if len(in) == 0 {
		return fs
	}
	return LayerKey(fs, in)
}
