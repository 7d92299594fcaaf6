package compiler

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/imgc-dev/imgc/ir"
)

// ignore returns the ignore patterns of a copy's or bind mount's source
// directory, loading each file once. The build context, and a module's
// directory, use the build context's: Options.IgnoreFile (a Dockerfile's
// own DOCKERFILE.dockerignore) wins, then .imgcignore, then
// .dockerignore. A named context (named, a Dockerfile's --build-context
// NAME=DIR) uses its own .imgcignore or .dockerignore, as BuildKit reads a
// named local context's .dockerignore (dockerui's NamedContext.load) and
// never the build context's or a DOCKERFILE.dockerignore.
func (s *state) ignore(dir string, named bool) *patternmatcher.PatternMatcher {
	key := ""
	candidates := []string{filepath.Join(s.context, ".imgcignore"), filepath.Join(s.context, ".dockerignore")}
	if named {
		key = dir
		candidates = []string{filepath.Join(dir, ".imgcignore"), filepath.Join(dir, ".dockerignore")}
	} else if s.opts.IgnoreFile != "" {
		candidates = append([]string{s.opts.IgnoreFile}, candidates...)
	}
	m, ok := s.ignores[key]
	if !ok {
		if s.ignores == nil {
			s.ignores, s.ignoreIDs = map[string]*patternmatcher.PatternMatcher{}, map[string]string{}
		}
		m, s.ignoreIDs[key] = s.loadIgnore(candidates)
		s.ignores[key] = m
	}
	if id := s.ignoreIDs[key]; !slices.Contains(s.usedIgnores, id) {
		s.usedIgnores = append(s.usedIgnores, id)
	}
	return m
}

// loadIgnore reads the first of candidates that exists, and names it
// with its content's digest (see ir.Layer.IgnoreFile).
func (s *state) loadIgnore(candidates []string) (*patternmatcher.PatternMatcher, string) {
	for _, p := range candidates {
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		id := filepath.Base(p) + " " + ir.KeyOf(data).String()
		if err != nil {
			s.diags = append(s.diags, errorDiag("Ignore file not readable", fmt.Sprintf("Reading %s: %v. Make it readable or remove it.", p, err), nil))
			return nil, id
		}
		patterns, err := ignorefile.ReadAll(bytes.NewReader(data))
		var m *patternmatcher.PatternMatcher
		if err == nil {
			m, err = patternmatcher.New(patterns)
		}
		if err != nil {
			s.diags = append(s.diags, errorDiag("Invalid ignore file", fmt.Sprintf("Reading %s: %v. Fix the pattern; the syntax is .dockerignore's.", p, err), nil))
		}
		return m, id
	}
	return nil, "none"
}
