package ir

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
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
	// BaseTagUnresolved is why a first layer on a registry tag that
	// nothing pinned misses in a plan: its key is the tag's until a build
	// resolves it.
	BaseTagUnresolved = "base tag not resolved: a plan asks no registry (pin it in imgc.lock.hcl, or build once)"
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
// A change of the layer's own inputs is named first, then a rebuilt
// parent or a changed base image, so that undoing one change still shows
// the other ("copied file f.txt changed; base image digest changed").
// Every input that changed is named (up to three), and before them the
// variables that changed them: an input whose change is the variables'
// new values in place of their old ones is not named again ("variable
// version changed"), one that changed otherwise is ("variable version
// changed; command changed" when the command was also edited).
func MissReason(prev *Layer, cur *Layer, parentRebuilt bool) string {
	return missReason(prev, cur, parentRebuilt, reasonBaseChanged, nil)
}

// missReason is MissReason with baseChanged as the words for a changed
// base, and kindOf, when not nil, the kind of each target of the plan, to
// name a rebuilt source ("source stage `build` rebuilt").
func missReason(prev *Layer, cur *Layer, parentRebuilt bool, baseChanged string, kindOf func(string) TargetKind) string {
	switch {
	case cur == nil:
		return ""
	case prev == nil:
		return "never built"
	case cur.NoCache:
		return NoCache
	}
	var parts []string
	if r := inputReason(prev, cur, kindOf); r != "" {
		parts = append(parts, r)
	}
	switch {
	case parentRebuilt:
		parts = append(parts, reasonParentRebuilt)
	case prev.Parent != cur.Parent:
		parts = append(parts, baseChanged)
	}
	switch {
	case len(parts) > 0:
		return strings.Join(parts, "; ")
	case prev.Key == cur.Key:
		return "not in the cache"
	}
	return "inputs changed"
}

// MissReasonIn is MissReason for a layer of the target t of p. When t's
// base is another target of p, a first layer whose parent changed misses
// because that target rebuilt, which is named instead of a base image
// digest; a rebuilt target a copy reads is named too ("source stage
// `build` rebuilt").
func MissReasonIn(p *Plan, t *Target, prev, cur *Layer, parentRebuilt bool) string {
	return missReason(prev, cur, parentRebuilt, baseChangedOn(t.Base, p.targetKind(t.Base.Target)), p.targetKind)
}

// baseChangedOn is why a first layer on base misses when the base
// changed.
func baseChangedOn(base Base, baseKind TargetKind) string {
	switch {
	case base.Kind == BaseTarget:
		return BaseRebuilt(baseKind, base.Target)
	case base.Kind == BaseRegistry && base.Digest == "":
		// Keyed by its tag: a plan asks no registry, and nothing pins it.
		return BaseTagUnresolved
	}
	return reasonBaseChanged
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

// InputReason is MissReason's account of cur's own inputs alone: the
// variables and inputs that changed since prev, "" when none did.
func InputReason(prev, cur *Layer) string {
	if prev == nil || cur == nil {
		return ""
	}
	return inputReason(prev, cur, nil)
}

// inputReason names the variables and inputs whose change makes cur miss
// (see MissReason), or "" when its inputs are prev's.
func inputReason(prev, cur *Layer, kindOf func(string) TargetKind) string {
	changes := inputChanges(prev.Inputs, cur.Inputs)
	if len(changes) == 0 {
		return ""
	}
	vars := changedVars(prev.Vars, cur.Vars)
	values := withLeaves(vars)
	used := false // a variable's new value is in a changed input
	var named []string
	for _, c := range changes {
		if len(vars) > 0 && c.what == "changed" && c.substituted(values) {
			used = true
			continue
		}
		old, now := c.said()
		for _, v := range values {
			used = used || (v.cur != "" && strings.Contains(now, v.cur) && (v.old == "" || strings.Contains(old, v.old)))
		}
		named = append(named, describeChange(c, cur, kindOf))
	}
	if len(named) > 3 {
		named = append(named[:3], fmt.Sprintf("%d more", len(named)-3))
	}
	var parts []string
	if used {
		names := make([]string, len(vars))
		for i, v := range vars {
			names[i] = v.name
		}
		word := "variable "
		if len(names) > 1 {
			word = "variables "
		}
		parts = append(parts, word+strings.Join(names, ", ")+" changed")
	}
	if len(named) > 0 {
		parts = append(parts, strings.Join(named, ", "))
	}
	if ign := ignoreChange(prev, cur, changes); ign != "" {
		parts = append(parts, ign)
	}
	return strings.Join(parts, "; ")
}

// ignoreChange says the ignore file changed ("the .dockerignore changed")
// when copied files came or went and the ignore file the context was
// listed through is another (Layer.IgnoreFile): what the user edited was
// the ignore file, not the files. "" otherwise, and when the last build
// did not record its ignore file.
func ignoreChange(prev, cur *Layer, changes []inputDiff) string {
	if prev.IgnoreFile == "" || cur.IgnoreFile == "" || prev.IgnoreFile == cur.IgnoreFile {
		return ""
	}
	cameOrWent := false
	for _, c := range changes {
		name := c.name
		if i := strings.Index(name, ": "); i >= 0 && strings.HasPrefix(name, "step ") {
			name = name[i+2:]
		}
		cameOrWent = cameOrWent || (strings.HasPrefix(name, "file ") && c.what != "changed")
	}
	if !cameOrWent {
		return ""
	}
	file, _, _ := strings.Cut(cur.IgnoreFile, " ")
	if file == "none" {
		file, _, _ = strings.Cut(prev.IgnoreFile, " ")
		return file + " removed"
	}
	return file + " changed"
}

type varChange struct{ name, old, cur string }

// changedVars are the variables both layers used whose values differ, by
// name.
func changedVars(prev, cur map[string]string) []varChange {
	var out []varChange
	for n, v := range cur {
		if old, ok := prev[n]; ok && old != v {
			out = append(out, varChange{n, old, v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// withLeaves is vars and, for each variable whose values are both a JSON
// object or array (a map, list or object variable), the scalars in them
// that changed at the same place, under its name: a step a dynamic block
// made from each element (`${run.value}`) has the element's value, not the
// variable's, in its command.
func withLeaves(vars []varChange) []varChange {
	out := vars
	for _, v := range vars {
		if !strings.HasPrefix(v.old, "{") && !strings.HasPrefix(v.old, "[") {
			continue
		}
		o, oerr := decodeJSON(v.old)
		c, cerr := decodeJSON(v.cur)
		if oerr == nil && cerr == nil {
			out = appendLeaves(out, v.name, o, c)
		}
	}
	return out
}

// appendLeaves appends the scalars of old and cur that differ at the same
// place in both, as changes of the variable name.
func appendLeaves(out []varChange, name string, old, cur any) []varChange {
	switch o := old.(type) {
	case map[string]any:
		c, ok := cur.(map[string]any)
		if !ok {
			return out
		}
		for _, k := range slices.Sorted(maps.Keys(o)) {
			if cv, ok := c[k]; ok {
				out = appendLeaves(out, name, o[k], cv)
			}
		}
	case []any:
		c, ok := cur.([]any)
		if !ok {
			return out
		}
		for i := range min(len(o), len(c)) {
			out = appendLeaves(out, name, o[i], c[i])
		}
	default:
		ot, ct := scalarText(old), scalarText(cur)
		if ot != ct && ot != "" && ct != "" {
			out = append(out, varChange{name, ot, ct})
		}
	}
	return out
}

func decodeJSON(s string) (any, error) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

// scalarText is a JSON scalar as a template writes it: a string as it is,
// a number or bool as JSON writes it; "" for anything else.
func scalarText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return string(v)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// substituted tells whether cur is old with some of the variables' old
// values in it replaced by their new ones, and nothing else changed: the
// variables explain the change.
func substituted(old, cur string, vars []varChange) bool {
	if len(old) > maxSubstituted || len(cur) > maxSubstituted {
		return false // a heredoc's megabytes: named as changed, not matched
	}
	var pat strings.Builder
	pat.WriteString("^")
	for i := 0; i < len(old); {
		longest := -1
		for j, v := range vars {
			if v.old != "" && strings.HasPrefix(old[i:], v.old) && (longest < 0 || len(v.old) > len(vars[longest].old)) {
				longest = j
			}
		}
		if longest >= 0 {
			v := vars[longest]
			pat.WriteString("(?:" + regexp.QuoteMeta(v.old) + "|" + regexp.QuoteMeta(v.cur) + ")")
			i += len(v.old)
			continue
		}
		_, size := utf8.DecodeRuneInString(old[i:])
		pat.WriteString(regexp.QuoteMeta(old[i : i+size]))
		i += size
	}
	pat.WriteString("$")
	re, err := regexp.Compile(pat.String())
	return err == nil && re.MatchString(cur)
}

// maxSubstituted bounds the inputs substituted matches: its pattern has a
// group per occurrence of a value.
const maxSubstituted = 16 << 10

type inputDiff struct {
	name, what, old, cur string
	// oldText and curText are the inputs' Text (KeyInput.Text).
	oldText, curText string
}

// said is what the configuration wrote of the input, before and now, as
// far as the inputs tell: the texts of an inline content, else the
// values, without a copied file's digest (which no variable's value is
// in).
func (c inputDiff) said() (old, cur string) {
	if c.oldText != "" || c.curText != "" {
		return c.oldText, c.curText
	}
	return withoutDigest(c.old), withoutDigest(c.cur)
}

// substituted tells whether the variables' new values explain the change
// (see substituted): in an inline content's text, when its mode and
// destination stayed, else in the value. A copied file's new digest is
// never explained by a variable (only its text could tell).
func (c inputDiff) substituted(vars []varChange) bool {
	oldRest, curRest := withoutDigest(c.old), withoutDigest(c.cur)
	if c.oldText != "" || c.curText != "" {
		// The text and the rest (mode, destination) each the same or
		// explained: dest = "/etc/motd-${var.version}" too.
		textOK := c.oldText == c.curText || substituted(c.oldText, c.curText, vars)
		restOK := oldRest == curRest || substituted(oldRest, curRest, vars)
		return textOK && restOK
	}
	if oldRest != c.old || curRest != c.cur {
		return strings.TrimSuffix(c.old, oldRest) == strings.TrimSuffix(c.cur, curRest) && substituted(oldRest, curRest, vars)
	}
	return substituted(c.old, c.cur, vars)
}

// withoutDigest is a copied file's value (compiler.fileText) without its
// leading digest; any other value as it is.
func withoutDigest(v string) string {
	if d, rest, ok := strings.Cut(v, " "); ok && strings.HasPrefix(d, "sha256:") {
		return rest
	}
	return v
}

// inputChanges are the inputs of cur that are new or differ from prev's,
// in cur's order, then those of prev that are gone.
func inputChanges(prev, cur []KeyInput) []inputDiff {
	old := make(map[string]KeyInput, len(prev))
	for _, in := range prev {
		old[in.Name] = in
	}
	var out []inputDiff
	seen := make(map[string]bool, len(cur))
	for _, in := range cur {
		seen[in.Name] = true
		o, ok := old[in.Name]
		switch {
		case !ok:
			out = append(out, inputDiff{name: in.Name, what: "added", cur: in.Value})
		case o.Value != in.Value:
			out = append(out, inputDiff{name: in.Name, what: "changed", old: o.Value, cur: in.Value, oldText: o.Text, curText: in.Text})
		}
	}
	for _, in := range prev {
		if !seen[in.Name] {
			out = append(out, inputDiff{name: in.Name, what: "removed", old: in.Value})
		}
	}
	return out
}

// describeChange is describe, more precise where only a copied file's
// mode changed: "copied file run.sh mode changed (0644 to 0755)".
func describeChange(c inputDiff, cur *Layer, kindOf func(string) TargetKind) string {
	if kindOf != nil && c.what == "changed" {
		if prefix, ok := sourceStage(c.name); ok {
			if name := copiedFrom(cur, prefix); name != "" {
				return prefix + SourceRebuilt(kindOf(name), name)
			}
		}
	}
	if c.what == "changed" && strings.HasPrefix(c.name, "mount ") {
		if what := mountChange(c.old, c.cur); what != "" {
			return describe(c.name, "changed ("+what+")")
		}
	}
	if c.what == "changed" && c.oldText != "" && c.curText != "" && withoutDigest(c.old) == withoutDigest(c.cur) {
		// No file: the text a copy's content wrote.
		prefix, name := "", c.name
		if i := strings.Index(name, ": "); i >= 0 && strings.HasPrefix(name, "step ") {
			prefix, name = name[:i+2], name[i+2:]
		}
		return prefix + "inline content <<" + strings.TrimPrefix(name, "file ") + " changed"
	}
	if strings.HasPrefix(c.name, "file ") && c.what == "changed" {
		// A file's value is "DIGEST PERM DST" (a directory's "dir PERM
		// DST"; see compiler.fileText).
		o, n := strings.SplitN(c.old, " ", 3), strings.SplitN(c.cur, " ", 3)
		if len(o) == 3 && len(n) == 3 && o[0] == n[0] && o[2] == n[2] && o[1] != n[1] &&
			(o[0] == "dir" || strings.HasPrefix(o[0], "sha256:")) {
			return describe(c.name, "mode changed ("+o[1]+" to "+n[1]+")")
		}
	}
	return describe(c.name, c.what)
}

// mountFieldOrder is the order of a mount's fields (compiler.mountText).
var mountFieldOrder = []string{"type", "id", "sharing", "source", "env", "from", "context", "readonly", "required", "mode", "uid", "gid", "size"}

// mountChange says what differs between two of a mount's key values
// ("id c1 to c2", "readonly added", "its files changed"), or "" when it
// cannot tell (a value with a comma of its own) or more than two fields
// changed.
func mountChange(old, cur string) string {
	o, ok := mountFields(old)
	n, ok2 := mountFields(cur)
	if !ok || !ok2 {
		return ""
	}
	var what []string
	for _, k := range mountFieldOrder {
		ov, had := o[k]
		nv, has := n[k]
		switch {
		case had == has && ov == nv:
			continue
		case k == "from":
			what = append(what, "its source stage rebuilt")
		case k == "context":
			what = append(what, "its files changed")
		case !had && nv == "":
			what = append(what, k+" added")
		case !had:
			what = append(what, k+" "+nv+" added")
		case !has:
			what = append(what, k+" removed")
		default:
			what = append(what, k+" "+ov+" to "+nv)
		}
	}
	if len(what) == 0 || len(what) > 2 {
		return ""
	}
	return strings.Join(what, ", ")
}

// mountFields reads a mount's key value, "type=cache,id=x,readonly";
// ok is false for a field it does not know.
func mountFields(v string) (map[string]string, bool) {
	out := map[string]string{}
	for _, f := range strings.Split(v, ",") {
		k, val, eq := strings.Cut(f, "=")
		if !slices.Contains(mountFieldOrder, k) || eq == (k == "readonly" || k == "required") {
			return nil, false
		}
		out[k] = val
	}
	return out, true
}

// sourceStage tells a "source stage" input, with its "step N: " prefix
// if any.
func sourceStage(name string) (prefix string, ok bool) {
	if i := strings.Index(name, ": "); i >= 0 && strings.HasPrefix(name, "step ") {
		prefix, name = name[:i+2], name[i+2:]
	}
	return prefix, name == "source stage"
}

// copiedFrom is the target a copy step of l reads: the step the prefix
// ("step N: ") names, else l's only copy from a target; "" when it cannot
// tell (Steps are not kept in a recorded layer).
func copiedFrom(l *Layer, prefix string) string {
	steps := l.Steps
	if prefix != "" {
		var n int
		if _, err := fmt.Sscanf(prefix, "step %d: ", &n); err != nil || n < 1 || n > len(steps) {
			return ""
		}
		steps = steps[n-1 : n]
	}
	name := ""
	for _, st := range steps {
		if c, ok := st.(*Copy); ok && c.FromTarget != "" {
			if name != "" && name != c.FromTarget {
				return ""
			}
			name = c.FromTarget
		}
	}
	return name
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
