package lang

import (
	"testing"

	"github.com/imgc-dev/imgc/model"
)

func TestSubstituteVars(t *testing.T) {
	vars := map[string]string{"PATH": "/opt/bin:$PATH", "A": "a"}
	for _, tt := range []struct{ value, want string }{
		{"/x:$PATH", "/x:/opt/bin:$PATH"},
		{"/x:${PATH}:/y", "/x:/opt/bin:$PATH:/y"},
		{"$A-b", "a-b"},
		{"$PATHS", "$PATHS"},
		{"$$PATH", "$$PATH"},
		{"${PATH:-/d}", "${PATH:-/d}"},
		{"$UNSET/x", "$UNSET/x"},
		{"plain $", "plain $"},
	} {
		if got := SubstituteVars(tt.value, vars); got != tt.want {
			t.Errorf("SubstituteVars(%q) = %q, want %q", tt.value, got, tt.want)
		}
	}
}

func TestChainEnv(t *testing.T) {
	st := &model.Stage{
		Env:    []model.EnvVar{{Name: "PATH", Value: "/opt/bin:$PATH"}, {Name: "A", Value: "a"}},
		Steps:  []model.Step{&model.Run{Env: []model.EnvVar{{Name: "PATH", Value: "/step:$PATH"}, {Name: "B", Value: "$A-b"}}}, &model.Layer{Steps: []model.Step{&model.Run{Env: []model.EnvVar{{Name: "C", Value: "${A}c"}}}}}},
		Config: &model.ImageConfig{Env: []model.EnvVar{{Name: "PATH", Value: "/cfg:$PATH"}}},
	}
	chainEnv(st)
	run := st.Steps[0].(*model.Run)
	inner := st.Steps[1].(*model.Layer).Steps[0].(*model.Run)
	for _, c := range []struct{ got, want string }{
		{run.Env[0].Value, "/step:/opt/bin:$PATH"},
		{run.Env[1].Value, "a-b"},
		{inner.Env[0].Value, "ac"},
		{st.Config.Env[0].Value, "/cfg:/opt/bin:$PATH"},
		{st.Env[0].Value, "/opt/bin:$PATH"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
