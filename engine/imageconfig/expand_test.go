package imageconfig

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/ir"
)

func TestExpandEnv(t *testing.T) {
	base := []string{"PATH=/usr/bin:/bin", "HOME=/root", "EMPTY=", "LANG=C.UTF-8"}
	tests := []struct {
		in, want string
	}{
		{"PATH=/opt/bin:$PATH", "PATH=/opt/bin:/usr/bin:/bin"},
		{"PATH=${PATH}:/opt/bin", "PATH=/usr/bin:/bin:/opt/bin"},
		{"P=$HOME/x$LANG", "P=/root/xC.UTF-8"},
		{"U=[$UNSET]", "U=[]"},
		{"D=${UNSET:-def}", "D=def"},
		{"D=${EMPTY:-def}|${EMPTY-def}", "D=def|"},
		{"D=${HOME:-def}", "D=/root"},
		{"D=${UNSET:-$HOME/x}", "D=/root/x"},
		{"A=${HOME:+set}|${UNSET:+set}|${EMPTY:+set}|${EMPTY+set}", "A=set|||set"},
		{"L=${LD:+${LD}:}/lib", "L=/lib"},
		{"K=${HOME#/}", "K=${HOME#/}"},
		{"K=cost $5 and $", "K=cost $5 and $"},
		{"K=${unclosed", "K=${unclosed"},
		{"K=no dollar", "K=no dollar"},
		{"K=a$$b $${HOME} $$$HOME", "K=a$b ${HOME} $/root"},
		{"NOVALUE", "NOVALUE"},
	}
	for _, tt := range tests {
		got := ExpandEnv(base, []string{tt.in})
		if diff := cmp.Diff([]string{tt.want}, got); diff != "" {
			t.Errorf("ExpandEnv(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestMergeConfigExpandsBaseEnv(t *testing.T) {
	c := &v1.Config{Env: []string{"PATH=/usr/bin:/bin", "KEEP=1"}}
	if err := Merge(c, ir.ImageConfig{Env: []string{"PATH=/opt/bin:$PATH", "NEW=$KEEP-$PATH"}}); err != nil {
		t.Fatal(err)
	}
	want := []string{"PATH=/opt/bin:/usr/bin:/bin", "KEEP=1", "NEW=1-/usr/bin:/bin"}
	if diff := cmp.Diff(want, c.Env); diff != "" {
		t.Errorf("config env (-want +got):\n%s", diff)
	}
}

// Base-env labels, exposed ports, volumes and the stop signal see the
// image's environment, the target's env over the base's (as ENV then
// EXPOSE); $$ is a literal $, plain labels are literal, and the IR's
// config is left as it was.
func TestMergeConfigWordsSeeImageEnv(t *testing.T) {
	c := &v1.Config{Env: []string{"PORT=8080", "PORTS=80 9000-9001/udp", "SIG=INT", "DATA=/data"}}
	ic := ir.ImageConfig{
		Env:           []string{"PORT=1"},
		Labels:        map[string]string{"plain": "x $PORT"},
		BaseEnvLabels: map[string]string{"port": "$PORT", "lit": "$$PORT"},
		ExposedPorts:  []string{"$PORTS", "7000", "6000-6001/UDP"},
		Volumes:       []string{"$DATA/v", "/plain"},
		StopSignal:    "SIG$SIG",
	}
	if err := Merge(c, ic); err != nil {
		t.Fatal(err)
	}
	want := &v1.Config{
		Env:          []string{"PORT=1", "PORTS=80 9000-9001/udp", "SIG=INT", "DATA=/data"},
		Labels:       map[string]string{"port": "1", "lit": "$PORT", "plain": "x $PORT"},
		ExposedPorts: map[string]struct{}{"80/tcp": {}, "9000/udp": {}, "9001/udp": {}, "7000/tcp": {}, "6000/udp": {}, "6001/udp": {}},
		Volumes:      map[string]struct{}{"/data/v": {}, "/plain": {}},
		StopSignal:   "SIGINT",
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if ic.BaseEnvLabels["port"] != "$PORT" || len(ic.Labels) != 1 {
		t.Errorf("Merge changed the IR's labels: %v, %v", ic.Labels, ic.BaseEnvLabels)
	}
	for _, bad := range []ir.ImageConfig{
		{ExposedPorts: []string{"$UNSET"}},
		{ExposedPorts: []string{"$SIG"}},
		{Volumes: []string{"$UNSET"}},
		{StopSignal: "$DATA"},
	} {
		c := &v1.Config{Env: []string{"SIG=INT", "DATA=/data"}}
		if err := Merge(c, bad); err == nil {
			t.Errorf("Merge(%+v) = nil, want an error", bad)
		}
	}
}

func TestExpandWorkdir(t *testing.T) {
	base := []string{"HOME=/home/base", "REL=rel", "EMPTY="}
	for in, want := range map[string]string{
		"/app":                             "/app",
		"/$HOME/app":                       "/home/base/app",
		"/src/$HOME/app":                   "/home/base/app",
		"/$HOME/app/${TOOLDIR:-/opt}/tool": "/opt/tool",
		"/$UNSET/rel":                      "/rel",
		"/src/$REL/x":                      "/src/rel/x",
		"/src/${EMPTY:-/abs}":              "/abs",
		"/a/$$b":                           "/a/$b",
	} {
		if got := ExpandWorkdir(base, in); got != want {
			t.Errorf("ExpandWorkdir(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDestExpander(t *testing.T) {
	base := []string{"HOME=/home/base"}
	at := DestExpander(base, "/$HOME/app/")
	for in, want := range map[string]string{
		"/$HOME/app":                   "/home/base/app",
		"/$HOME/app/Outer$Inner.class": "/home/base/app/Outer$Inner.class",
		"/elsewhere/$HOME":             "/elsewhere/$HOME",
	} {
		if got := at(in); got != want {
			t.Errorf("DestExpander(%q) = %q, want %q", in, got, want)
		}
	}
	plain := DestExpander(base, "/app/")
	if got := plain("/app/a$b"); got != "/app/a$b" {
		t.Errorf("a plain dest changed %q to %q", "/app/a$b", got)
	}
}
