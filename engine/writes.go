package engine

import (
	"archive/tar"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/imgc-dev/imgc/ir"
)

// DeclaredWrites is what a layer of run steps declares it writes. ok is
// false when there is nothing to check: a step declares nothing, or the
// layer also copies (its files are what the plan lists anyway).
func DeclaredWrites(l *ir.Layer) (writes []string, ok bool) {
	for _, st := range l.Steps {
		r, isRun := st.(*ir.Run)
		if !isRun || len(r.Writes) == 0 {
			return nil, false
		}
		writes = append(writes, r.Writes...)
	}
	return writes, len(writes) > 0
}

// CheckWrites fails when the uncompressed layer tar r changes a path
// outside what the layer's steps declared: the optimizer reorders steps
// trusting `writes`, so a step that lies must fail loudly (a *StepError at
// the layer). Directories above a declared path may appear (writing below
// them copies them up). Both engines check their layers with it.
func CheckWrites(l *ir.Layer, r io.Reader) error {
	if _, ok := DeclaredWrites(l); !ok {
		return nil
	}
	tr := tar.NewReader(r)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the layer: %w", err)
		}
		names = append(names, h.Name)
	}
	return CheckWriteNames(l, names)
}

// CheckWriteNames is CheckWrites for a layer whose tar entries are names,
// in order, for an engine that saw them as it wrote the tar.
func CheckWriteNames(l *ir.Layer, names []string) error {
	writes, ok := DeclaredWrites(l)
	if !ok {
		return nil
	}
	var undeclared []string
	for _, name := range names {
		p := path.Clean("/" + name)
		dir, base := path.Split(p)
		if base == ".wh..wh..opq" {
			p = path.Clean(dir)
		} else if name, ok := strings.CutPrefix(base, ".wh."); ok {
			p = path.Join(dir, name)
		}
		if !declared(p, writes) {
			undeclared = append(undeclared, p)
		}
	}
	if len(undeclared) == 0 {
		return nil
	}
	if len(undeclared) > 5 {
		undeclared = append(undeclared[:5], fmt.Sprintf("and %d more", len(undeclared)-5))
	}
	return &StepError{Origins: []ir.Origin{l.Origin}, Key: l.Key,
		Err: fmt.Errorf("the layer changes %s, which its steps' writes %q do not cover: declare every path the step writes", strings.Join(undeclared, ", "), writes)}
}

// declared reports whether p is a declared write path, below one, or a
// directory above one. Relative writes are taken from the root.
func declared(p string, writes []string) bool {
	for _, w := range writes {
		w = path.Clean("/" + w)
		if p == w || strings.HasPrefix(p, w+"/") || w == "/" || strings.HasPrefix(w, p+"/") {
			return true
		}
	}
	return false
}
