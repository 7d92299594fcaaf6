package ir

import (
	"fmt"
	"sort"
	"strings"
)

// Reasons shared by MissReason and the engines' Explain.
const (
	reasonParentRebuilt = "parent layer rebuilt"
	reasonBaseChanged   = "base image digest changed"

	// NoCache is why a `cache = false` layer misses.
	NoCache = "cache = false"
	// ParentRebuiltNoCache is why a layer misses although its key is
	// cached: a `cache = false` layer before it ran again, and a layer's
	// key does not depend on what its parent produced.
	ParentRebuiltNoCache = reasonParentRebuilt + " (" + NoCache + ")"
	// SkippedStage is why a layer of a stage misses that the build will
	// not build: every layer that reads the stage is cached.
	SkippedStage = "not built: every layer reading it hits"
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
		return NoCache
	}
	if r := inputChange(prev.Inputs, cur.Inputs); r != "" {
		if v := varChange(prev.Vars, cur.Vars); v != "" {
			return v
		}
		return r
	}
	if prev.Parent != cur.Parent {
		if parentRebuilt {
			return reasonParentRebuilt
		}
		return reasonBaseChanged
	}
	if parentRebuilt {
		return reasonParentRebuilt
	}
	if prev.Key == cur.Key {
		return "not in the cache"
	}
	return "inputs changed"
}

// MissReasonOn is MissReason for a layer of a target built on base. When
// base is another target of the plan (of kind baseKind), a first layer
// whose parent changed misses because that target rebuilt, which is
// named instead of a base image digest.
func MissReasonOn(base Base, baseKind TargetKind, prev, cur *Layer, parentRebuilt bool) string {
	r := MissReason(prev, cur, parentRebuilt)
	if r == reasonBaseChanged && base.Kind == BaseTarget {
		return BaseRebuilt(baseKind, base.Target)
	}
	return r
}

// BaseRebuilt is why the first layer of a target built on the target name
// (of kind kind, empty when unknown) misses when that target rebuilt:
// "base stage `common` rebuilt".
func BaseRebuilt(kind TargetKind, name string) string {
	return fmt.Sprintf("base %s `%s` rebuilt", kindWord(kind), name)
}

// SourceRebuilt is why a layer that reads the target name (copy from, bind
// mount) misses when that target rebuilt: "source stage `build` rebuilt".
func SourceRebuilt(kind TargetKind, name string) string {
	return fmt.Sprintf("source %s `%s` rebuilt", kindWord(kind), name)
}

// ForcedByNoCache marks a reason whose cause is a `cache = false` layer
// that ran again, as in "base stage `common` rebuilt (cache = false)".
func ForcedByNoCache(reason string) string {
	return reason + " (" + NoCache + ")"
}

func kindWord(k TargetKind) string {
	if k == "" {
		return "target"
	}
	return string(k)
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
