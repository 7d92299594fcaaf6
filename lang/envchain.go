package lang

import (
	"strings"

	"github.com/imgc-dev/imgc/model"
)

// chainEnv resolves, in a stage's steps and config, the references to
// variables the stage's own env sets: a step's PATH = "/x:$PATH" over the
// stage's PATH = "/opt/bin:$PATH" becomes "/x:/opt/bin:$PATH", as in
// Docker's chain of ENV instructions. Afterwards every env value of the
// model refers only to the base image's environment (which the runtime
// expands), as the Dockerfile importer's values do.
func chainEnv(st *model.Stage) {
	if len(st.Env) == 0 {
		return
	}
	vars := make(map[string]string, len(st.Env))
	for _, e := range st.Env {
		vars[e.Name] = e.Value
	}
	var steps func([]model.Step)
	steps = func(list []model.Step) {
		for _, s := range list {
			switch s := s.(type) {
			case *model.Run:
				for i := range s.Env {
					s.Env[i].Value = SubstituteVars(s.Env[i].Value, vars)
				}
			case *model.Layer:
				steps(s.Steps)
			}
		}
	}
	steps(st.Steps)
	if st.Config != nil {
		for i := range st.Config.Env {
			st.Config.Env[i].Value = SubstituteVars(st.Config.Env[i].Value, vars)
		}
	}
}

// SubstituteVars replaces $NAME and ${NAME} in value with vars[NAME] for
// the names vars has. $$ is a literal $ and stays as written; other ${...}
// forms, and names vars lacks, are left to the runtime.
func SubstituteVars(value string, vars map[string]string) string {
	if !strings.Contains(value, "$") {
		return value
	}
	var b strings.Builder
	for i := 0; i < len(value); i++ {
		if value[i] != '$' || i+1 == len(value) {
			b.WriteByte(value[i])
			continue
		}
		if value[i+1] == '$' {
			b.WriteString("$$")
			i++
			continue
		}
		if value[i+1] == '{' {
			if end := strings.IndexByte(value[i:], '}'); end > 0 {
				if v, ok := vars[value[i+2:i+end]]; ok {
					b.WriteString(v)
					i += end
					continue
				}
			}
			b.WriteByte('$')
			continue
		}
		j := i + 1
		for j < len(value) && isNameByte(value[j]) {
			j++
		}
		if v, ok := vars[value[i+1:j]]; ok && j > i+1 {
			b.WriteString(v)
			i = j - 1
			continue
		}
		b.WriteByte('$')
	}
	return b.String()
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
