package stdlib

import (
	"errors"
	"fmt"
	"math/big"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/imgc-dev/imgc/model"
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
	// Expand returns the steps the block stands for, in order: *model.Run
	// and *model.Copy values that the front end completes with the
	// block's range and variables. It checks
	// every argument and returns one *ArgError per bad one (joined with
	// errors.Join), each shown to the user at its argument, so each
	// should say what to change.
	Expand func(attrs map[string]cty.Value) ([]model.Step, error)
}

// ArgError is an invalid macro argument.
type ArgError struct {
	// Attr names the argument; "" when no single argument is at fault.
	Attr string
	Err  error
}

func (e *ArgError) Error() string { return e.Err.Error() }
func (e *ArgError) Unwrap() error { return e.Err }

// ArgErrors splits an error Expand returned into its argument errors; an
// error that is no *ArgError becomes one without Attr.
func ArgErrors(err error) []*ArgError {
	if err == nil {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*ArgError
		for _, e := range joined.Unwrap() {
			out = append(out, ArgErrors(e)...)
		}
		return out
	}
	var ae *ArgError
	if errors.As(err, &ae) {
		return []*ArgError{ae}
	}
	return []*ArgError{{Err: err}}
}

// argErrors collects the errors of one expansion, so that every bad
// argument is reported, not only the first.
type argErrors []error

// check records err (if any) against attr and reports whether it did.
func (a *argErrors) check(attr string, err error) bool {
	if err == nil {
		return false
	}
	*a = append(*a, &ArgError{Attr: attr, Err: err})
	return true
}

// add records an error about attr.
func (a *argErrors) add(attr, format string, args ...any) {
	a.check(attr, fmt.Errorf(format, args...))
}

func (a argErrors) err() error { return errors.Join(a...) }

// MacroAttribute is one argument of a macro block.
type MacroAttribute struct {
	Name     string
	Type     cty.Type
	Required bool
	Doc      string
}

// Macros returns the built-in step macros.
func Macros() []Macro {
	return []Macro{
		AptInstall, ApkAdd, DnfInstall,
		PipInstall, NpmCi, YarnInstall, PnpmInstall, GoModDownload, GoBuild, CargoFetch,
		User, CACertificates, Timezone,
	}
}

// attrString is a string attribute's value, or def when it is unset.
func attrString(attrs map[string]cty.Value, name, def string) string {
	v, ok := attrs[name]
	if !ok || v.IsNull() {
		return def
	}
	return v.AsString()
}

// attrBool is a bool attribute's value, or def when it is unset.
func attrBool(attrs map[string]cty.Value, name string, def bool) bool {
	v, ok := attrs[name]
	if !ok || v.IsNull() {
		return def
	}
	return v.True()
}

// attrInt is a whole-number attribute's value; ok is false when it is
// unset.
func attrInt(attrs map[string]cty.Value, name string) (n int, ok bool, err error) {
	v, set := attrs[name]
	if !set || v.IsNull() {
		return 0, false, nil
	}
	bf := v.AsBigFloat()
	i, acc := bf.Int64()
	if acc != big.Exact || i < 0 || i > 1<<31-1 {
		return 0, false, fmt.Errorf("`%s` is %s, which is not a whole number from 0 to 2147483647; give one", name, bf.Text('g', -1))
	}
	return int(i), true, nil
}

// attrStrings is a list-of-strings attribute's elements (nil when unset).
func attrStrings(attrs map[string]cty.Value, name string) ([]string, error) {
	v, ok := attrs[name]
	if !ok || v.IsNull() {
		return nil, nil
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			return nil, fmt.Errorf("`%s` holds a null element; remove it", name)
		}
		out = append(out, e.AsString())
	}
	return out, nil
}

// safePathPattern is what a path that a macro places in a shell command
// may hold: no spaces, quotes or shell syntax, so that it needs no quoting
// and `plan` shows the command exactly as it runs.
var safePathPattern = regexp.MustCompile(`^[A-Za-z0-9._+@%,:/=-]+$`)

const safeChars = "letters, digits and . _ + @ % , : / = -"

// absPath checks an image path attribute: absolute and shell-safe. It
// returns the cleaned path.
func absPath(name, p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("`%s` is %q, which is not an absolute path; start it with \"/\"", name, p)
	}
	if !safePathPattern.MatchString(p) {
		return "", fmt.Errorf("`%s` is %q, which holds characters a macro cannot place in a shell command; use only %s", name, p, safeChars)
	}
	return path.Clean(p), nil
}

// contextPath checks a build-context path attribute: relative, inside the
// context, no glob, and shell-safe. It returns the cleaned path.
func contextPath(name, p string) (string, error) {
	c := path.Clean(p)
	switch {
	case p == "":
		return "", fmt.Errorf("`%s` is empty; give a path relative to the build context", name)
	case strings.HasPrefix(p, "/"):
		return "", fmt.Errorf("`%s` is %q, which is absolute; give a path relative to the build context", name, p)
	case c == ".." || strings.HasPrefix(c, "../"):
		return "", fmt.Errorf("`%s` is %q, which leaves the build context; give a path inside it", name, p)
	case !safePathPattern.MatchString(p):
		return "", fmt.Errorf("`%s` is %q, which holds glob or shell characters; name the path plainly with %s", name, p, safeChars)
	}
	return c, nil
}

// sortedPackages checks every element of the packages attribute with valid
// (which must also make a name safe to place in a shell command unquoted)
// and returns them sorted and deduplicated, so that reordering the list
// keeps the command, and with it the cache key, unchanged. Every bad
// element is reported.
func sortedPackages(attrs map[string]cty.Value, valid func(string) bool, what string) ([]string, error) {
	names, err := attrStrings(attrs, "packages")
	if err != nil {
		return nil, &ArgError{Attr: "packages", Err: err}
	}
	if len(names) == 0 {
		return nil, &ArgError{Attr: "packages", Err: fmt.Errorf("`packages` is empty; list at least one package to install")}
	}
	var errs argErrors
	for _, n := range names {
		if !valid(n) {
			errs.add("packages", "%q is not %s; write the name without spaces or shell syntax", n, what)
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	sort.Strings(names)
	return dedupSorted(names), nil
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
