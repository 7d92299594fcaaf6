package dockerfile

import (
	"path"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// BuildKit makes every WORKDIR other than / at once, in a layer of its
// own: mkdir -p with mode 0755 as the current USER. imgc makes it with a
// mkdir step, unless the next instruction that changes files makes the
// same directories the same way anyway (a RUN in it as the same user, or a
// COPY or ADD into it as root without --chown or --chmod): keys and
// conversions then stay as they were, and the image is the same.

// workdirMkdir adds the mkdir step of the WORKDIR just read.
func (rd *reader) workdirMkdir(s *stageState, rng hcl.Range) {
	s.mkdir = nil
	if path.Clean(s.workdir) == "/" {
		return
	}
	m := &mkdirForm{Path: s.workdirText(), Range: rng}
	if s.user != "" {
		m.User = s.userText()
	}
	s.st.Steps = append(s.st.Steps, m)
	s.mkdir, s.mkdirUser = m, s.user
}

// mkdirVars gives the stage's mkdir steps the ARGs their values use,
// with those the stage's defaults use (as a configuration attributes a
// step), once the defaults are final.
func (rd *reader) mkdirVars(s *stageState) {
	var defaults []string
	for _, e := range s.st.Env {
		defaults = append(defaults, e.template())
		if e.Null {
			defaults = append(defaults, "var."+e.Name)
		}
	}
	defaults = append(defaults, s.st.Workdir.template(), s.st.User.template())
	for _, step := range s.st.Steps {
		m, ok := step.(*mkdirForm)
		if !ok {
			continue
		}
		var names []string
		for _, t := range append(defaults, m.Path.template(), m.User.template()) {
			for _, i := range declRefs(t) {
				if i < len(rd.f.decls) {
					names = append(names, rd.f.decls[i].Arg)
				}
			}
		}
		m.Vars = uniqueSorted(names)
	}
}

// declRefs are the ARG declarations a template references.
func declRefs(tmpl string) []int {
	var out []int
	for {
		_, rest, ok := strings.Cut(tmpl, declOpen)
		if !ok {
			return out
		}
		n, after, ok := strings.Cut(rest, declClose)
		if !ok {
			return out
		}
		if i, err := strconv.Atoi(n); err == nil {
			out = append(out, i)
		}
		tmpl = after
	}
}

// settleMkdir decides, after an instruction that added steps from index
// from on, whether the pending mkdir step stays.
func (rd *reader) settleMkdir(s *stageState, from int) {
	m := s.mkdir
	if m == nil || len(s.st.Steps) <= from || s.st.Steps[from] == m {
		return
	}
	s.mkdir = nil
	if from == 0 || s.st.Steps[from-1] != m || !makesWorkdir(s, m, s.st.Steps[from]) {
		return
	}
	s.st.Steps = append(s.st.Steps[:from-1], s.st.Steps[from:]...)
}

// makesWorkdir reports whether step makes the directories m would, with
// the same owner and mode.
func makesWorkdir(s *stageState, m *mkdirForm, step stepForm) bool {
	if m.User.Tmpl != "" {
		// USER ${U}: the choice would depend on U's value, which --var
		// changes after conversion; the step stays.
		return false
	}
	switch st := step.(type) {
	case *runForm:
		// The runtime makes a RUN's working directory as its user; a bare
		// uid differs (BuildKit's WORKDIR gives it the group of the same
		// number, a RUN the user's primary group or 0).
		return s.user == s.mkdirUser && s.userTmpl == "" && !bareUID(s.user)
	case *copyForm:
		return rootUser(s.mkdirUser) && copiesInto(m.Path.Value, st.fileForm)
	case *addForm:
		return rootUser(s.mkdirUser) && copiesInto(m.Path.Value, st.fileForm)
	}
	return false
}

// copiesInto reports whether a COPY or ADD without owner or mode lands in
// dir, so that it makes dir as root with mode 0755 as WORKDIR would.
func copiesInto(dir string, f fileForm) bool {
	if f.Chown.Value != "" || f.Chmod.Value != "" {
		return false
	}
	dest := f.Dest.Value
	if !path.IsAbs(dest) {
		return true
	}
	dest = path.Clean(dest)
	return dest == dir || strings.HasPrefix(dest, dir+"/")
}

func rootUser(u string) bool {
	switch u {
	case "", "root", "0", "0:0", "root:root", "root:0", "0:root":
		return true
	}
	return false
}

func bareUID(u string) bool {
	if u == "" || u == "0" || strings.Contains(u, ":") {
		return false
	}
	return strings.Trim(u, "0123456789") == ""
}
