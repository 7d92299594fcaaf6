package store

import (
	"encoding/json"
	"maps"
	"os"
)

// The tags a build resolved through their registries, by pin key
// ("REFERENCE OS/ARCH"), last resolution first: what a plan of a
// configuration that pins nothing (a Dockerfile without imgc.lock.hcl)
// assumes a tag still names, since a plan never asks a registry.

func (s *Store) resolvedPath() string { return s.path("resolved.json") }

// RecordResolved adds what a build resolved, replacing earlier
// resolutions of the same tags.
func (s *Store) RecordResolved(pins map[string]string) error {
	if len(pins) == 0 {
		return nil
	}
	lk, err := s.Lock("resolved")
	if err != nil {
		return err
	}
	defer lk.Unlock()
	all := s.Resolved()
	before := maps.Clone(all)
	maps.Copy(all, pins)
	if maps.Equal(all, before) {
		return nil
	}
	data, err := json.Marshal(all)
	if err != nil {
		return err
	}
	return writeFileAtomic(s.resolvedPath(), data)
}

// Resolved is what the last builds resolved each tag to, by pin key.
func (s *Store) Resolved() map[string]string {
	out := map[string]string{}
	data, err := os.ReadFile(s.resolvedPath())
	if err != nil {
		return out
	}
	if json.Unmarshal(data, &out) != nil {
		return map[string]string{}
	}
	return out
}
