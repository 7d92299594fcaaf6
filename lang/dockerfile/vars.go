package dockerfile

import (
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// variable is one `variable` block of a converted configuration: a
// Dockerfile ARG (BuildKit's automatic platform ARGs are the platform
// values instead, see platformRefs).
type variable struct {
	Name    string // the HCL name
	Arg     string // the Dockerfile ARG
	Default string
	// Stage is the stage that declared it; "" for a global ARG.
	Stage string
	// Required variables have no default: the Dockerfile cannot build
	// without a value (an empty FROM).
	Required bool
	// Null variables default to null: an ARG without a default, which
	// Docker leaves unset (not empty) unless a value is given.
	Null bool
	// Derived is the template of a default computed from other ARGs:
	// the variable defaults to null and a local of the same name gives
	// its value, var.NAME when set, else the template.
	Derived string
	// Of names, for a local, the variable it gives the value of, else
	// its own default: a stage's ARG whose default differs from another
	// stage's ARG of the same name (one --build-arg sets both, so one
	// --var must too).
	Of    string
	Range hcl.Range
	// Stages are, for a variable several stages' locals read, those
	// stages.
	Stages []string
}

type varTable struct {
	list   []*variable
	byName map[string]*variable
}

// identifier turns an ARG name into an HCL identifier.
func identifier(s string) string {
	var b strings.Builder
	for i, r := range s {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || (i > 0 && (r == '-' || r >= '0' && r <= '9'))
		if ok {
			b.WriteRune(r)
		} else {
			if i == 0 && r >= '0' && r <= '9' {
				b.WriteByte('_')
				b.WriteRune(r)
				continue
			}
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

func (t *varTable) add(v *variable) *variable {
	t.list = append(t.list, v)
	t.byName[v.Name] = v
	return v
}

// platform returns the HCL name of an automatic platform ARG.
// platformRefs are the platform values that stand for BuildKit's
// automatic platform ARGs in a conversion: they follow --platform, once
// per platform of a multi-platform build, as the ARGs do.
var platformRefs = map[string]string{
	"BUILDPLATFORM": "platform.build", "BUILDOS": "platform.build_os", "BUILDARCH": "platform.build_arch", "BUILDVARIANT": "platform.build_variant",
	"TARGETPLATFORM": "platform.target", "TARGETOS": "platform.os", "TARGETARCH": "platform.arch", "TARGETVARIANT": "platform.variant",
}

// IsPlatformArg tells whether name is one of BuildKit's automatic
// platform ARGs.
func IsPlatformArg(name string) bool { return platformRefs[name] != "" }

// declare returns the variable for an ARG with the given default: the
// existing one of the same name when the defaults agree (or the ARG is
// global), else a new one named after the stage.
func (t *varTable) declare(arg, stage, def string, null bool, derived string, rng hcl.Range, global bool) *variable {
	name := identifier(arg)
	if v, ok := t.byName[name]; ok {
		if global {
			v.Default, v.Null, v.Derived, v.Range = def, null, derived, rng
			return v
		}
		if v.Default == def && v.Null == null && v.Derived == derived {
			return v
		}
		name = identifier(arg + "_" + stage)
		for i := 2; ; i++ {
			v, ok := t.byName[name]
			if !ok {
				break
			}
			if v.Default == def && v.Null == null && v.Derived == derived {
				return v
			}
			name = identifier(arg+"_"+stage) + "_" + strings.Repeat("x", i-1)
		}
	}
	return t.add(&variable{Name: name, Arg: arg, Default: def, Null: null, Derived: derived, Stage: stage, Range: rng})
}

// argDecl is an ARG that a conversion declares a variable for: one of
// BuildKit's automatic platform ARGs, a global ARG, or a stage's ARG with
// a value. Its variable's name depends on the declarations before it, so
// Convert names the variables (variables) and the form's templates refer
// to a declaration by its index until then (declare).
type argDecl struct {
	Arg, Stage, Default string
	Range               hcl.Range
	Global, Platform    bool
	// Null is an ARG without a default: its variable defaults to null.
	Null bool
	// Derived is the template of a default computed from other ARGs.
	Derived string
}

// Bytes around a declaration's index in a template. They are not UTF-8,
// and Convert only reads UTF-8 Dockerfiles, so no value holds them.
const (
	declOpen  = "\xff"
	declClose = "\xfe"
)

// declare records an ARG's variable and returns the template of a
// reference to it.
func (f *form) declare(d argDecl) string {
	f.decls = append(f.decls, d)
	return "${" + declOpen + strconv.Itoa(len(f.decls)-1) + declClose + "}"
}

// variables names the variables of the form's ARGs, as a conversion
// declares them: names[i] is the reference to decls[i]'s variable
// (var.NAME), or to its local when its default is derived (local.NAME).
func (f *form) variables() (t *varTable, names []string) {
	t = &varTable{byName: map[string]*variable{}}
	shared := sharedArgs(f.decls)
	globals, seen := map[string]int{}, map[string]int{}
	for _, d := range f.decls {
		if d.Global {
			globals[d.Arg]++
		}
	}
	chained := redefinedArgs(f.decls, globals)
	for _, d := range f.decls {
		switch {
		case d.Platform || (platformRefs[d.Arg] != "" && d.Null):
			// An ARG of a platform ARG's name without a default has
			// BuildKit's value (one with a default has its default).
			names = append(names, platformRefs[d.Arg])
		case chained[d.Arg]:
			local := identifier(d.Arg)
			if d.Global {
				seen[d.Arg]++
				if seen[d.Arg] < globals[d.Arg] {
					local = t.free(local + "_1")
				}
			} else {
				local = t.free(identifier(d.Arg + "_" + d.Stage))
			}
			names = append(names, t.redefined(d, local))
		case shared[d.Arg]:
			names = append(names, t.sharedRef(d))
		default:
			v := t.declare(d.Arg, d.Stage, d.Default, d.Null, d.Derived, d.Range, d.Global)
			ref := "var." + v.Name
			if v.Derived != "" {
				ref = "local." + v.Name
			}
			names = append(names, ref)
		}
	}
	for _, n := range f.required {
		t.byName[identifier(n)].Required = true
	}
	return t, names
}

// resolveDecls replaces the declaration references in a template by the
// names of their variables.
func resolveDecls(tmpl string, names []string) string {
	if !strings.Contains(tmpl, declOpen) {
		return tmpl
	}
	var b strings.Builder
	for {
		i := strings.Index(tmpl, declOpen)
		if i < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		rest := tmpl[i+len(declOpen):]
		j := strings.Index(rest, declClose)
		n, err := strconv.Atoi(rest[:max(j, 0)])
		if j < 0 || err != nil || n < 0 || n >= len(names) {
			// Not a reference: a byte of a value (ConvertOptions.Platform
			// is not checked for UTF-8), written as it is.
			b.WriteString(tmpl[:i+len(declOpen)])
			tmpl = rest
			continue
		}
		b.WriteString(tmpl[:i] + names[n])
		tmpl = rest[j+len(declClose):]
	}
}

// sharedArgs are the ARGs that stages declare with different defaults
// (not computed ones) and no global ARG declares: each becomes one
// variable that defaults to null, and each stage's default a local.
func sharedArgs(decls []argDecl) map[string]bool {
	type def struct {
		value string
		null  bool
	}
	defaults := map[string]map[def]bool{}
	skip := map[string]bool{}
	for _, d := range decls {
		switch {
		case d.Platform:
		case d.Global || d.Derived != "":
			skip[d.Arg] = true
		default:
			if defaults[d.Arg] == nil {
				defaults[d.Arg] = map[def]bool{}
			}
			defaults[d.Arg][def{d.Default, d.Null}] = true
		}
	}
	out := map[string]bool{}
	for arg, defs := range defaults {
		if len(defs) > 1 && !skip[arg] {
			out[arg] = true
		}
	}
	return out
}

// sharedRef is the reference to a shared ARG's declaration: the
// variable for one without a default (unset unless given), else the
// local of its stage's default.
func (t *varTable) sharedRef(d argDecl) string {
	name := identifier(d.Arg)
	v, ok := t.byName[name]
	if !ok {
		v = t.add(&variable{Name: name, Arg: d.Arg, Null: true, Stage: d.Stage, Range: d.Range})
	}
	if !contains(v.Stages, d.Stage) {
		v.Stages = append(v.Stages, d.Stage)
	}
	if d.Null {
		return "var." + name
	}
	for _, l := range t.list {
		if l.Of == name && l.Default == d.Default {
			return "local." + l.Name
		}
	}
	local := identifier(d.Arg + "_" + d.Stage)
	for i := 2; t.byName[local] != nil; i++ {
		local = identifier(d.Arg+"_"+d.Stage) + "_" + strconv.Itoa(i)
	}
	t.add(&variable{Name: local, Arg: d.Arg, Default: d.Default, Of: name, Stage: d.Stage, Range: d.Range})
	return "local." + local
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// redefinedArgs are the ARGs declared again from themselves: several
// global ARGs of one name, as in ARG X=a then ARG X=${X}b, or a stage's
// ARG whose default reads another ARG of its name. BuildKit's automatic
// platform ARGs are not among them.
func redefinedArgs(decls []argDecl, globals map[string]int) map[string]bool {
	out := map[string]bool{}
	for arg, n := range globals {
		if n > 1 {
			out[arg] = true
		}
	}
	for _, d := range decls {
		for _, i := range declRefs(d.Derived) {
			if i >= 0 && i < len(decls) && decls[i].Arg == d.Arg {
				out[d.Arg] = true
			}
		}
	}
	for _, p := range platformArgs {
		delete(out, p)
	}
	return out
}

// free returns name, or name with a number when a variable or local
// already has it.
func (t *varTable) free(name string) string {
	base := name
	for i := 2; t.byName[name] != nil; i++ {
		base = strings.TrimSuffix(base, "_1")
		name = base + "_" + strconv.Itoa(i)
	}
	return name
}

// redefined is the reference to a declaration of an ARG declared again
// from itself. Docker gives each declaration the value of the build
// argument when there is one, else its own default, computed from the
// ARGs before it. So one variable, defaulting to null, takes the value,
// and each declaration with a default is a local of its own, named
// local: a default that reads the ARG reads the local before it, never
// itself.
func (t *varTable) redefined(d argDecl, local string) string {
	name := identifier(d.Arg)
	v, ok := t.byName[name]
	if !ok {
		v = t.add(&variable{Name: name, Arg: d.Arg, Range: d.Range})
	}
	v.Default, v.Derived, v.Null = "", "", true
	if d.Null {
		return "var." + name
	}
	tmpl := d.Derived
	if tmpl == "" {
		tmpl = quoteLit(d.Default)
	}
	l := &variable{Name: local, Arg: d.Arg, Derived: tmpl, Of: name, Stage: d.Stage, Range: d.Range}
	t.list = append(t.list, l)
	if local != name {
		t.byName[local] = l
	}
	return "local." + local
}
