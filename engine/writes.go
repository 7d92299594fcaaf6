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
	// A step's working directory is made for it if the image lacks it
	// (as docker build does): that directory and those above it are not
	// the step's writes, and it need not declare them.
	var workdirs []string
	for _, st := range l.Steps {
		if r, ok := st.(*ir.Run); ok && r.Workdir != "" {
			workdirs = append(workdirs, path.Clean("/"+r.Workdir))
		}
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
		if !declared(p, writes) && !madeWorkdir(p, workdirs) {
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
		Err: fmt.Errorf("the layer changes %s, which its steps' writes (%s) do not cover: declare every path the step writes", strings.Join(undeclared, ", "), strings.Join(writes, ", "))}
}

// madeWorkdir reports whether p is one of workdirs or a directory above
// one.
func madeWorkdir(p string, workdirs []string) bool {
	for _, w := range workdirs {
		if p == w || p == "/" || strings.HasPrefix(w, p+"/") {
			return true
		}
	}
	return false
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
