package ir

import (
	"sort"
	"strings"
)

// MissReason says in a few words why cur misses the cache, given prev, the
// layer at the same place in the target's last build (nil if there was
// none). parentRebuilt tells that cur's parent is a layer of this build that
// misses, or differs from prev's parent; false for a first layer, whose
// parent is the base.
//
// A change of the layer's own inputs is named first (a variable before the
// attribute it changed), then a rebuilt parent, then the base image.
func MissReason(prev *Layer, cur *Layer, parentRebuilt bool) string {
	switch {
	case cur == nil:
		return ""
	case prev == nil:
		return "never built"
	case cur.NoCache:
		return "cache = false"
	}
	if r := inputChange(prev.Inputs, cur.Inputs); r != "" {
		if v := varChange(prev.Vars, cur.Vars); v != "" {
			return v
		}
		return r
	}
	if prev.Parent != cur.Parent {
		if parentRebuilt {
			return "parent layer rebuilt"
		}
		return "base image digest changed"
	}
	if parentRebuilt {
		return "parent layer rebuilt"
	}
	if prev.Key == cur.Key {
		return "not in the cache"
	}
	return "inputs changed"
}

func varChange(prev, cur map[string]string) string {
	names := make([]string, 0, len(cur))
	for n := range cur {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if old, ok := prev[n]; ok && old != cur[n] {
			return "variable " + n + " changed"
		}
	}
	return ""
}

// inputChange names the first input of cur that is new or differs from
// prev, else the first input of prev that is gone.
func inputChange(prev, cur []KeyInput) string {
	old := make(map[string]string, len(prev))
	for _, in := range prev {
		old[in.Name] = in.Value
	}
	seen := make(map[string]bool, len(cur))
	for _, in := range cur {
		seen[in.Name] = true
		v, ok := old[in.Name]
		switch {
		case !ok:
			return describe(in.Name, "added")
		case v != in.Value:
			return describe(in.Name, "changed")
		}
	}
	for _, in := range prev {
		if !seen[in.Name] {
			return describe(in.Name, "removed")
		}
	}
	return ""
}

// describe turns an input name into words: "file src/app.py" becomes
// "copied file src/app.py changed"; a "step N: " prefix is kept.
func describe(name, what string) string {
	prefix := ""
	if i := strings.Index(name, ": "); i >= 0 && strings.HasPrefix(name, "step ") {
		prefix, name = name[:i+2], name[i+2:]
	}
	switch {
	case strings.HasPrefix(name, "file "):
		name = "copied " + name
	case name == "exec":
		name = "command"
	case name == "kind":
		name = "step kind"
	case name == "source stage":
		if what == "changed" {
			what = "rebuilt"
		}
	}
	return prefix + name + " " + what
}
