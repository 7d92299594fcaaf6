package stdlib

import (
	"fmt"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// Macro is a step block type that expands to ordinary steps, such as
// `apt_install { packages = ["curl"] }`. The language front end decodes
// the block's attributes by Attributes, converts each to its Type, and
// calls Expand with the values of the attributes that were set.
type Macro struct {
	// Name is the block type.
	Name string
	// Doc is one sentence for `imgc` help and docs.
	Doc        string
	Attributes []MacroAttribute
	// Expand returns the steps the block stands for, in order. Its error
	// is shown to the user at the macro block, so it should say what to
	// change.
	Expand func(attrs map[string]cty.Value) ([]MacroStep, error)
}

// MacroAttribute is one argument of a macro block.
type MacroAttribute struct {
	Name     string
	Type     cty.Type
	Required bool
	Doc      string
}

// MacroStep is one step of an expansion: a run (Sh or Exec) or a copy
// (Src and Dest). It mirrors the language's step blocks.
type MacroStep struct {
	Kind StepKind

	// run
	Sh      string
	Exec    []string
	Env     [][2]string // name, value; in order
	Network string
	Mounts  []MacroMount
	Reads   []string
	Writes  []string

	// copy
	Src   []string
	Dest  string
	Chown string
	Chmod string
}

// StepKind is the kind of a MacroStep.
type StepKind string

const (
	StepRun  StepKind = "run"
	StepCopy StepKind = "copy"
)

// MacroMount is a run mount of a macro step.
type MacroMount struct {
	Type    string // cache, tmpfs
	Target  string
	ID      string
	Sharing string // shared, private, locked
}

// Macros returns the built-in step macros.
func Macros() []Macro {
	return []Macro{AptInstall}
}

// AptInstall installs Debian/Ubuntu packages in one run step whose apt
// caches are cache mounts: they persist across builds and never reach the
// layer, so nothing has to be cleaned up afterwards.
var AptInstall = Macro{
	Name: "apt_install",
	Doc:  "Installs Debian or Ubuntu packages with apt-get, keeping apt's caches out of the layer.",
	Attributes: []MacroAttribute{
		{Name: "packages", Type: cty.List(cty.String), Required: true, Doc: "Packages to install, optionally pinned as NAME=VERSION."},
	},
	Expand: expandAptInstall,
}

func expandAptInstall(attrs map[string]cty.Value) ([]MacroStep, error) {
	pkgs := attrs["packages"]
	if pkgs.IsNull() || pkgs.LengthInt() == 0 {
		return nil, fmt.Errorf("packages is empty; list at least one package to install")
	}
	var names []string
	for it := pkgs.ElementIterator(); it.Next(); {
		_, v := it.Element()
		if v.IsNull() {
			return nil, fmt.Errorf("packages holds a null element; remove it")
		}
		name := v.AsString()
		if !validPackageName(name) {
			return nil, fmt.Errorf("%q is not a Debian package name (optionally with =VERSION or /RELEASE)", name)
		}
		names = append(names, name)
	}
	// Sorted and deduplicated so that reordering the list keeps the
	// command, and with it the cache key, unchanged.
	sort.Strings(names)
	names = dedupSorted(names)
	return []MacroStep{{
		Kind: StepRun,
		Sh:   "apt-get update && apt-get install -y --no-install-recommends " + strings.Join(names, " "),
		Env:  [][2]string{{"DEBIAN_FRONTEND", "noninteractive"}},
		Mounts: []MacroMount{
			{Type: "cache", Target: "/var/cache/apt", ID: "apt-cache", Sharing: "locked"},
			{Type: "cache", Target: "/var/lib/apt/lists", ID: "apt-lists", Sharing: "locked"},
		},
	}}, nil
}

// validPackageName accepts NAME, NAME=VERSION and NAME/RELEASE with the
// characters Debian policy allows, which also makes the name safe to place
// in a shell command unquoted.
func validPackageName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case i > 0 && strings.ContainsRune("+-.=:~/", r):
		case i > 0 && r >= 'A' && r <= 'Z':
		default:
			return false
		}
	}
	return true
}

func dedupSorted(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
