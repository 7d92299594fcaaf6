package compiler

import (
	"path"
	"slices"
	"strings"

	"github.com/imgc-dev/imgc/ir"
)

// effects is what the optimizer knows a layer does to the filesystem
// below it: the paths it reads, the paths it writes (each standing for the
// path and everything below it), the directories it may create on the way
// to them, and the cache mounts it shares with other steps. Two layers
// whose effects are independent give the same filesystem in either order.
// The reorder and mergecopy passes decide on effects only.
type effects struct {
	// known is false for a run step that declares nothing: it may read
	// and write anything, so nothing moves across it.
	known bool
	reads []string
	// exists are paths the step needs to exist, or creates when they are
	// missing: a run step's working directory.
	exists []string
	writes []string
	// parents are the directories above writes that the step creates when
	// missing, with how it creates them: "root" (0755, owned by root),
	// "chown USER" (a copy's chown), or "any" (a run step: unknown mode
	// and owner).
	parents map[string]string
	caches  []string
}

// maxListedFiles is how many copied files a copy's effects list one by one.
const maxListedFiles = 64

// userFiles are what resolving a user or group name reads.
var userFiles = []string{"/etc/passwd", "/etc/group"}

// macroOf returns the stdlib macro a layer's name attributes it to
// (macroName's "apt_install: run …"), or "".
func macroOf(l *ir.Layer) string {
	name, _, ok := strings.Cut(l.Name, ": ")
	if !ok || strings.ContainsAny(name, " \t") {
		return ""
	}
	return name
}

// layerEffects is the union of a layer's steps' effects.
func layerEffects(l *ir.Layer) effects {
	out := effects{known: true, parents: map[string]string{}}
	for _, step := range l.Steps {
		e := stepEffects(step)
		if !e.known {
			return effects{}
		}
		out.reads = append(out.reads, e.reads...)
		out.exists = append(out.exists, e.exists...)
		out.writes = append(out.writes, e.writes...)
		out.caches = append(out.caches, e.caches...)
		for p, how := range e.parents {
			if prev, ok := out.parents[p]; ok && prev != how {
				how = "any"
			}
			out.parents[p] = how
		}
	}
	return out
}

func stepEffects(step ir.Step) effects {
	e := effects{known: true, parents: map[string]string{}}
	switch st := step.(type) {
	case *ir.Run:
		// The runtime checks declared writes against the step's diff;
		// without them the step may do anything. Stdlib macros declare
		// theirs like any step.
		reads, writes := st.Reads, st.Writes
		if len(writes) == 0 {
			return effects{}
		}
		e.reads = append(append(e.reads, cleanAll(reads)...), userFiles...)
		for _, w := range cleanAll(writes) {
			e.writes = append(e.writes, w)
			e.addParents(w, "any")
		}
		if st.Workdir != "" {
			wd := path.Clean(st.Workdir)
			e.exists = append(e.exists, wd)
			e.addParents(wd, "root")
			if wd != "/" {
				e.parents[wd] = "root"
			}
		}
		for _, m := range st.Mounts {
			if m.Type == ir.MountCache {
				e.caches = append(e.caches, m.ID)
			}
		}
	case *ir.Copy:
		if st.InWorkdir {
			return effects{} // where it writes is known only when it runs
		}
		e.copyLike(st.Dest, st.Chown, st.Files)
	case *ir.Add:
		if st.InWorkdir {
			return effects{}
		}
		files := st.Files
		if st.Extract {
			files = nil
		}
		e.copyLike(st.Dest, st.Chown, files)
	default:
		return effects{}
	}
	return e
}

// copyLike is the effect of copying to dest: it writes the resolved
// files (or all of dest when they are not known before the build), creates
// the directories above them (with chown's owner), and reads the user
// database to resolve a chown name.
func (e *effects) copyLike(dest, chown string, files []ir.CopyFile) {
	how := "root"
	if chown != "" {
		how = "chown " + chown
		if !numericOwner(chown) {
			e.reads = append(e.reads, userFiles...)
		}
	}
	written := []string{path.Clean(dest)}
	// Listing each file is more precise; past maxListedFiles the whole
	// destination stands for them, so comparing two big copies stays
	// cheap.
	if len(files) > 0 && len(files) <= maxListedFiles {
		written = written[:0]
		for _, f := range files {
			written = append(written, path.Clean(f.Dst))
		}
	}
	for _, w := range written {
		e.writes = append(e.writes, w)
		e.addParents(w, how)
	}
}

func numericOwner(chown string) bool {
	for _, part := range strings.Split(chown, ":") {
		if part == "" || strings.Trim(part, "0123456789") != "" {
			return false
		}
	}
	return true
}

// addParents notes every directory strictly above p, except the root
// (which always exists), as created by how when missing.
func (e *effects) addParents(p, how string) {
	for dir := path.Dir(p); dir != "/" && dir != "."; dir = path.Dir(dir) {
		if prev, ok := e.parents[dir]; ok && prev != how {
			how = "any"
		}
		e.parents[dir] = how
	}
}

func cleanAll(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = path.Clean("/" + p)
	}
	return out
}

// overlaps reports whether a and b are the same path or one is below the
// other.
func overlaps(a, b string) bool {
	return a == b || a == "/" || b == "/" || strings.HasPrefix(b, a+"/") || strings.HasPrefix(a, b+"/")
}

// atOrAbove reports whether w is p or a directory above it.
func atOrAbove(w, p string) bool {
	return w == p || w == "/" || strings.HasPrefix(p, w+"/")
}

// independent reports whether running a then b gives the same filesystem
// as running b then a: neither writes what the other reads or writes,
// neither replaces a directory the other needs, both would create shared
// missing directories the same way, and they share no cache mount.
func independent(a, b effects) bool {
	if !a.known || !b.known {
		return false
	}
	return !conflicts(a, b) && !conflicts(b, a) && !sharesCache(a, b) && sameParents(a, b)
}

// conflicts reports whether a's writes touch what b reads, writes or needs,
// or a creates b's working directory.
func conflicts(a, b effects) bool {
	for _, w := range a.writes {
		for _, r := range b.reads {
			if overlaps(w, r) {
				return true
			}
		}
		for _, x := range b.writes {
			if overlaps(w, x) {
				return true
			}
		}
		for _, p := range b.exists {
			if atOrAbove(w, p) {
				return true
			}
		}
		for p := range b.parents {
			if atOrAbove(w, p) {
				return true
			}
		}
	}
	// A run's working directory that the other step may create: moved
	// first, the run would create it (runc does), which its declared
	// writes do not cover, and the build would fail.
	for p := range a.parents {
		if slices.Contains(b.exists, p) {
			return true
		}
	}
	return false
}

func sharesCache(a, b effects) bool {
	for _, c := range a.caches {
		if slices.Contains(b.caches, c) {
			return true
		}
	}
	return false
}

// sameParents reports whether every directory both may create would be
// created the same way by either, so which one creates it does not matter.
func sameParents(a, b effects) bool {
	for p, how := range a.parents {
		other, ok := b.parents[p]
		if ok && (how != other || how == "any") {
			return false
		}
	}
	return true
}
