package dockerfile

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// variable is one `variable` block of a converted configuration: a
// Dockerfile ARG, or one of BuildKit's automatic platform ARGs.
type variable struct {
	Name    string // the HCL name
	Arg     string // the Dockerfile ARG
	Default string
	// Stage is the stage that declared it; "" for a global ARG.
	Stage string
	// Platform marks BuildKit's automatic ARGs: declared only when used.
	Platform bool
	// Required variables have no default: the Dockerfile cannot build
	// without a value (an empty FROM).
	Required bool
	Range    hcl.Range
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
func (t *varTable) platform(arg, value string) string {
	name := identifier(arg)
	if v, ok := t.byName[name]; ok {
		return v.Name
	}
	return t.add(&variable{Name: name, Arg: arg, Default: value, Platform: true}).Name
}

// declare returns the variable for an ARG with the given default: the
// existing one of the same name when the defaults agree (or the ARG is
// global), else a new one named after the stage.
func (t *varTable) declare(arg, stage, def string, rng hcl.Range, global bool) *variable {
	name := identifier(arg)
	if v, ok := t.byName[name]; ok {
		if global {
			v.Default, v.Platform, v.Range = def, false, rng
			return v
		}
		if v.Default == def {
			v.Platform = false
			return v
		}
		name = identifier(arg + "_" + stage)
		for i := 2; ; i++ {
			v, ok := t.byName[name]
			if !ok {
				break
			}
			if v.Default == def {
				return v
			}
			name = identifier(arg+"_"+stage) + "_" + strings.Repeat("x", i-1)
		}
	}
	return t.add(&variable{Name: name, Arg: arg, Default: def, Stage: stage, Range: rng})
}
