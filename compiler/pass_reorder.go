package compiler

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/imgc-dev/imgc/ir"
)

// reorder moves a layer that rarely changes (a run step that declares its
// writes, or a stdlib macro such as apt_install) earlier, across layers
// that copy from the build context (which change with every edit of the
// source), so that editing the source no longer re-runs it. It is safe
// because a layer moves only across layers it is independent of
// (effects.go): neither writes a path the other reads or writes, neither
// replaces a directory the other works in, directories both may create
// would be created the same way, and they share no cache mount. Such
// layers commute: the final filesystem is the same in either order, and
// the image config is untouched. Nothing moves across a run step that
// declares nothing, since it may read or write anything. Keys are
// recomputed, so the moved layer and everything after it get new keys.
func reorder(s *state, p *ir.Plan) *ir.Plan {
	return rewriteTargets(s, p, func(t *ir.Target, preview bool) []*ir.Layer {
		layers := append([]*ir.Layer(nil), t.Layers...)
		moved := false
		for i := 1; i < len(layers); i++ {
			l := layers[i]
			if !stable(l) {
				continue
			}
			e := layerEffects(l)
			j := i
			for j > 0 && volatile(layers[j-1]) && independent(e, layerEffects(layers[j-1])) {
				j--
			}
			if j == i {
				continue
			}
			crossed := append([]*ir.Layer(nil), layers[j:i]...)
			s.record(reorderDetail(t, l, crossed, preview), !preview, append([]ir.Origin{l.Origin}, originsOf(crossed)...)...)
			copy(layers[j+1:i+1], crossed)
			layers[j] = l
			moved = true
		}
		if !moved || preview {
			return nil
		}
		return layers
	})
}

// previewReorder records, at --optimize=safe, what reorder would do.
func previewReorder(s *state, p *ir.Plan) {
	reorder(s, p)
}

// stable reports whether a layer is made of run steps only and reads
// nothing from the build context, so it changes only when its own text
// does.
func stable(l *ir.Layer) bool {
	for _, step := range l.Steps {
		r, ok := step.(*ir.Run)
		if !ok {
			return false
		}
		for _, m := range r.Mounts {
			if m.Type == ir.MountBind && m.FromTarget == "" {
				return false
			}
		}
	}
	return layerEffects(l).known
}

// volatile reports whether a layer copies from the build context.
func volatile(l *ir.Layer) bool {
	for _, step := range l.Steps {
		switch st := step.(type) {
		case *ir.Copy:
			if st.FromTarget == "" && st.Content == nil {
				return true
			}
		case *ir.Add:
			if st.URL == "" {
				return true
			}
		}
	}
	return false
}

func reorderDetail(t *ir.Target, l *ir.Layer, crossed []*ir.Layer, preview bool) string {
	var names []string
	for _, c := range crossed {
		names = append(names, fmt.Sprintf("the %s at %s", stepWord(c), lineOf(c.Origin)))
	}
	verb := "moved"
	if preview {
		verb = "would move"
	}
	d := fmt.Sprintf("%s `%s`: %s the %s at %s before %s: it reads nothing %s write%s, and writes nothing %s read%s or write%s",
		t.Kind, t.Name, verb, stepWord(l), lineOf(l.Origin), strings.Join(names, " and "),
		pronoun(crossed), plural(crossed), pronoun(crossed), plural(crossed), plural(crossed))
	if preview {
		d += " (at --optimize=all)"
	}
	return d
}

// stepWord names what a layer does for a message: "apt_install", "run
// make", "copy".
func stepWord(l *ir.Layer) string {
	if m := macroOf(l); m != "" {
		return m
	}
	if len(l.Steps) > 1 {
		return "layer `" + l.Name + "`"
	}
	return "`" + l.Name + "`"
}

func pronoun(crossed []*ir.Layer) string {
	if len(crossed) == 1 {
		return "that step"
	}
	return "those steps"
}

func plural(crossed []*ir.Layer) string {
	if len(crossed) == 1 {
		return "s"
	}
	return ""
}

// lineOf renders an origin as "file:line" with the file's base name, for
// details (the plan prints full sources beside them).
func lineOf(o ir.Origin) string {
	if o.File == "" {
		return "an unknown line"
	}
	if o.EndLine > o.Line {
		return fmt.Sprintf("%s:%d-%d", filepath.Base(o.File), o.Line, o.EndLine)
	}
	return fmt.Sprintf("%s:%d", filepath.Base(o.File), o.Line)
}

func originsOf(layers []*ir.Layer) []ir.Origin {
	var out []ir.Origin
	for _, l := range layers {
		out = append(out, l.Origin)
	}
	return out
}
