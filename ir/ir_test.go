package ir

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/imageref"
)

func layer(parent CacheKey, vars map[string]string, inputs ...string) *Layer {
	l := &Layer{Name: "l", Parent: parent, Vars: vars}
	for i := 0; i+1 < len(inputs); i += 2 {
		l.Inputs = append(l.Inputs, KeyInput{Name: inputs[i], Value: inputs[i+1]})
	}
	l.Key = LayerKey(parent, l.Inputs)
	return l
}

// ignoring sets the ignore file l listed the context through.
func (l *Layer) ignoring(id string) *Layer {
	l.IgnoreFile = id
	return l
}

// A copy's inline content is keyed by its digest, which no variable's
// value is in: its text, beside the key, tells whether the variables
// explain the change, whatever the length of their values.
func TestMissReasonInlineContent(t *testing.T) {
	p := KeyOf([]byte("a"))
	content := func(vars map[string]string, text, value string) *Layer {
		l := layer(p, vars, "kind", "copy", "file motd", value)
		l.Inputs[1].Text = text
		return l
	}
	v1 := map[string]string{"version": "1"}
	v10 := map[string]string{"version": "10"}
	prev := content(v1, "v=1", "sha256:12ab 0644 /etc/motd")
	for _, tt := range []struct {
		name     string
		cur      *Layer
		expected string
	}{
		{"a longer value", content(v10, "v=10", "sha256:34cd 0644 /etc/motd"), "variable version changed"},
		{"the template edited too", content(v10, "version=10", "sha256:56ef 0644 /etc/motd"), "variable version changed; inline content <<motd changed"},
		{"edited alone", content(v1, "version=1", "sha256:56ef 0644 /etc/motd"), "inline content <<motd changed"},
		{"the mode too", content(v10, "v=10", "sha256:34cd 0755 /etc/motd"), "variable version changed; copied file motd changed"},
	} {
		if got := MissReason(prev, tt.cur, false); got != tt.expected {
			t.Errorf("%s: MissReason = %q, want %q", tt.name, got, tt.expected)
		}
	}
	// A destination of the variable's too (dest = "/etc/motd-${var.version}").
	if got, want := MissReason(content(v1, "v=1", "sha256:12ab 0644 /etc/motd-1"), content(v10, "v=10", "sha256:34cd 0644 /etc/motd-10"), false), "variable version changed"; got != want {
		t.Errorf("a destination of the variable: MissReason = %q, want %q", got, want)
	}
	// A digest that happens to hold a variable's value ("1") explains
	// nothing, where no text was recorded (a build of an earlier imgc).
	old := layer(p, v1, "kind", "copy", "file motd", "sha256:1111 0644 /etc/motd")
	cur := layer(p, map[string]string{"version": "2"}, "kind", "copy", "file motd", "sha256:2222 0644 /etc/motd")
	if got, want := MissReason(old, cur, false), "copied file motd changed"; got != want {
		t.Errorf("without texts: MissReason = %q, want %q", got, want)
	}
}

// A step a dynamic block made from each element of a collection variable
// has the element's value in its command, not the variable's: the
// elements that changed explain it.
func TestMissReasonCollectionVariable(t *testing.T) {
	p := KeyOf([]byte("a"))
	run := func(items, command string) *Layer {
		return layer(p, map[string]string{"items": items}, "kind", "run", "command", command)
	}
	prev := run(`{"a":1,"b":"x y"}`, "echo a=1 b=x y")
	for _, tt := range []struct {
		name     string
		cur      *Layer
		expected string
	}{
		{"a number", run(`{"a":2,"b":"x y"}`, "echo a=2 b=x y"), "variable items changed"},
		{"a string", run(`{"a":1,"b":"z"}`, "echo a=1 b=z"), "variable items changed"},
		{"an edit too", run(`{"a":2,"b":"x y"}`, "echo a=2 b=x y!"), "variable items changed; command changed"},
		{"an edit alone", run(`{"a":1,"b":"x y"}`, "printf a=1 b=x y"), "command changed"},
	} {
		if got := MissReason(prev, tt.cur, false); got != tt.expected {
			t.Errorf("%s: MissReason = %q, want %q", tt.name, got, tt.expected)
		}
	}
	list := func(items, command string) *Layer {
		return layer(p, map[string]string{"list": items}, "kind", "run", "command", command)
	}
	if got, want := MissReason(list(`[1,3]`, "echo 1 3"), list(`[1,2]`, "echo 1 2"), false), "variable list changed"; got != want {
		t.Errorf("a list: MissReason = %q, want %q", got, want)
	}
}

func TestMissReason(t *testing.T) {
	p1, p2 := KeyOf([]byte("a")), KeyOf([]byte("b"))
	prev := layer(p1, map[string]string{"version": "1"}, "kind", "run", "command", "make", "env FOO", "1", "file src/app.py", "sha256:aa 0644 /app/app.py")
	withV1 := layer(p1, map[string]string{"version": "1"}, "kind", "run", "command", "make V=1", "env FOO", "1", "file src/app.py", "sha256:aa 0644 /app/app.py")
	tests := []struct {
		name          string
		prev, cur     *Layer
		parentRebuilt bool
		want          string
	}{
		{"never built", nil, prev, false, "never built"},
		{"no cache", prev, &Layer{NoCache: true, Parent: p1, Inputs: prev.Inputs}, false, "cache = false"},
		{"command", prev, layer(p1, prev.Vars, "kind", "run", "command", "make all", "env FOO", "1", "file src/app.py", "sha256:aa 0644 /app/app.py"), false, "command changed"},
		{"variable before attribute", withV1, layer(p1, map[string]string{"version": "2"}, "kind", "run", "command", "make V=2", "env FOO", "1", "file src/app.py", "sha256:aa 0644 /app/app.py"), false, "variable version changed"},
		{"variable and an edit", withV1, layer(p1, map[string]string{"version": "2"}, "kind", "run", "command", "make V=2 all", "env FOO", "1", "file src/app.py", "sha256:aa 0644 /app/app.py"), false, "variable version changed; command changed"},
		{"variable and another input", withV1, layer(p1, map[string]string{"version": "2"}, "kind", "run", "command", "make V=2", "env FOO", "x", "file src/app.py", "sha256:aa 0644 /app/app.py"), false, "variable version changed; env FOO changed"},
		{"a variable the inputs do not show", withV1, layer(p1, map[string]string{"version": "2"}, "kind", "run", "command", "make V=1 all", "env FOO", "1", "file src/app.py", "sha256:aa 0644 /app/app.py"), false, "command changed"},
		{"two variables", layer(p1, map[string]string{"a": "x", "b": "1.0"}, "command", "build x --ver=1.0"), layer(p1, map[string]string{"a": "yy", "b": "2.0"}, "command", "build yy --ver=2.0"), false, "variables a, b changed"},
		{"a variable that was empty", layer(p1, map[string]string{"v": ""}, "command", "make V="), layer(p1, map[string]string{"v": "1.2"}, "command", "make V=1.2"), false, "variable v changed; command changed"},
		{"a large input", layer(p1, map[string]string{"v": " "}, "command", strings.Repeat("a b ", 1<<18)), layer(p1, map[string]string{"v": "  "}, "command", strings.Repeat("a  b  ", 1<<18)), false, "variable v changed; command changed"},
		{"a short value elsewhere", layer(p1, map[string]string{"v": "1"}, "command", "make -j1 V=1"), layer(p1, map[string]string{"v": "2"}, "command", "make -j1 V=2"), false, "variable v changed"},
		{"several inputs", prev, layer(p1, prev.Vars, "kind", "run", "command", "make all", "env FOO", "2", "file src/app.py", "sha256:bb 0644 /app/app.py", "env BAR", "1", "env BAZ", "1"), false, "command changed, env FOO changed, copied file src/app.py changed, 2 more"},
		{"env", prev, layer(p1, prev.Vars, "kind", "run", "command", "make", "env FOO", "2", "file src/app.py", "sha256:aa 0644 /app/app.py"), false, "env FOO changed"},
		{"env added", prev, layer(p1, prev.Vars, "kind", "run", "command", "make", "env FOO", "1", "env BAR", "x", "file src/app.py", "sha256:aa 0644 /app/app.py"), false, "env BAR added"},
		{"file", prev, layer(p1, prev.Vars, "kind", "run", "command", "make", "env FOO", "1", "file src/app.py", "sha256:bb 0644 /app/app.py"), false, "copied file src/app.py changed"},
		{"file mode", prev, layer(p1, prev.Vars, "kind", "run", "command", "make", "env FOO", "1", "file src/app.py", "sha256:aa 0755 /app/app.py"), false, "copied file src/app.py mode changed (0644 to 0755)"},
		{"directory mode", layer(p1, nil, "file src", "dir 0755 /app/src"), layer(p1, nil, "file src", "dir 0700 /app/src"), false, "copied file src mode changed (0755 to 0700)"},
		{"file mode and content", prev, layer(p1, prev.Vars, "kind", "run", "command", "make", "env FOO", "1", "file src/app.py", "sha256:bb 0755 /app/app.py"), false, "copied file src/app.py changed"},
		{"ignore file edited", layer(p1, nil, "file src/a", "sha256:aa 0644 /a", "file src/b", "sha256:bb 0644 /b").ignoring(".dockerignore sha256:1"),
			layer(p1, nil, "file src/a", "sha256:aa 0644 /a").ignoring(".dockerignore sha256:2"), false, "copied file src/b removed; .dockerignore changed"},
		{"ignore file removed", layer(p1, nil, "file src/a", "sha256:aa 0644 /a").ignoring(".dockerignore sha256:1"),
			layer(p1, nil, "file src/a", "sha256:aa 0644 /a", "file src/b", "sha256:bb 0644 /b").ignoring("none"), false, "copied file src/b added; .dockerignore removed"},
		{"ignore file edited, no file came or went", layer(p1, nil, "file src/a", "sha256:aa 0644 /a").ignoring(".dockerignore sha256:1"),
			layer(p1, nil, "file src/a", "sha256:ab 0644 /a").ignoring(".dockerignore sha256:2"), false, "copied file src/a changed"},
		{"a last build that did not record it", layer(p1, nil, "file src/a", "sha256:aa 0644 /a", "file src/b", "sha256:bb 0644 /b"),
			layer(p1, nil, "file src/a", "sha256:aa 0644 /a").ignoring(".dockerignore sha256:2"), false, "copied file src/b removed"},
		{"cache mount id", layer(p1, nil, "mount /cache", "type=cache,id=c1,sharing=shared"), layer(p1, nil, "mount /cache", "type=cache,id=c2,sharing=shared"), false, "mount /cache changed (id c1 to c2)"},
		{"mount flag and source", layer(p1, nil, "mount /src", "type=bind,source=a,context=sha256:1,readonly"), layer(p1, nil, "mount /src", "type=bind,source=a,context=sha256:2"), false, "mount /src changed (its files changed, readonly removed)"},
		{"mount of a rebuilt stage", layer(p1, nil, "mount /x", "type=bind,from=sha256:1"), layer(p1, nil, "mount /x", "type=bind,from=sha256:2,uid=1000"), false, "mount /x changed (its source stage rebuilt, uid 1000 added)"},
		{"a mount value with a comma of its own", layer(p1, nil, "mount /x", "type=bind,source=a,b"), layer(p1, nil, "mount /x", "type=bind,source=c"), false, "mount /x changed"},
		{"three mount fields", layer(p1, nil, "mount /c", "type=cache,id=a,sharing=shared,mode=0755"), layer(p1, nil, "mount /c", "type=cache,id=b,sharing=locked,mode=0700"), false, "mount /c changed"},
		{"file removed", prev, layer(p1, prev.Vars, "kind", "run", "command", "make", "env FOO", "1"), false, "copied file src/app.py removed"},
		{"parent rebuilt", prev, layer(p2, prev.Vars, "kind", "run", "command", "make", "env FOO", "1", "file src/app.py", "sha256:aa 0644 /app/app.py"), true, "parent layer rebuilt"},
		{"base changed", prev, layer(p2, prev.Vars, "kind", "run", "command", "make", "env FOO", "1", "file src/app.py", "sha256:aa 0644 /app/app.py"), false, "base image digest changed"},
		{"file and base changed", prev, layer(p2, prev.Vars, "kind", "run", "command", "make", "env FOO", "1", "file src/app.py", "sha256:bb 0644 /app/app.py"), false, "copied file src/app.py changed; base image digest changed"},
		{"same key evicted", prev, prev, false, "not in the cache"},
		{"step prefix", layer(p1, nil, "step 2: command", "a"), layer(p1, nil, "step 2: command", "b"), false, "step 2: command changed"},
		{"source stage", layer(p1, nil, "source stage", "sha256:1"), layer(p1, nil, "source stage", "sha256:2"), false, "source stage rebuilt"},
	}
	for _, tt := range tests {
		if got := MissReason(tt.prev, tt.cur, tt.parentRebuilt); got != tt.want {
			t.Errorf("%s: MissReason = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestMissReasonFromJSON(t *testing.T) {
	// The runtime keeps the last build's layers as JSON; Steps are lost.
	prev := layer(KeyOf([]byte("a")), nil, "kind", "run", "command", "make")
	prev.Steps = []Step{&Run{Argv: []string{"make"}}}
	b, err := json.Marshal(prev)
	if err != nil {
		t.Fatal(err)
	}
	var decoded Layer
	if err := json.Unmarshal(b, &decoded); err != nil {
		t.Fatal(err)
	}
	if decoded.Key != prev.Key || decoded.Parent != prev.Parent {
		t.Fatalf("keys did not survive JSON")
	}
	cur := layer(prev.Parent, nil, "kind", "run", "command", "make install")
	if got := MissReason(&decoded, cur, false); got != "command changed" {
		t.Errorf("MissReason = %q", got)
	}
}

func TestLayerKeyIsUnambiguous(t *testing.T) {
	p := KeyOf([]byte("p"))
	a := LayerKey(p, []KeyInput{{Name: "ab", Value: "c"}})
	b := LayerKey(p, []KeyInput{{Name: "a", Value: "bc"}})
	c := LayerKey(p, []KeyInput{{Name: "ab", Value: ""}, {Name: "c", Value: ""}})
	if a == b || a == c || b == c {
		t.Errorf("different inputs share a key")
	}
	if k1, k2 := LayerKey(p, []KeyInput{{Name: "x", Value: "1"}}), LayerKey(p, []KeyInput{{Name: "x", Value: "1"}}); k1 != k2 {
		t.Errorf("LayerKey is not deterministic")
	}
	if LayerKey(KeyOf([]byte("q")), []KeyInput{{Name: "x", Value: "1"}}) == LayerKey(p, []KeyInput{{Name: "x", Value: "1"}}) {
		t.Errorf("the parent does not enter the key")
	}
}

func samplePlan() *Plan {
	plat := Platform{OS: "linux", Architecture: "amd64"}
	base := ImageBase(imageref.MustParse("docker.io/library/alpine:3.20"))
	base.Key = TagBaseKey("docker.io/library/alpine:3.20", plat)
	l1 := &Layer{Name: "run apk add curl", Parent: base.Key, Inputs: []KeyInput{{Name: "command", Value: "apk add curl"}}, CreatedBy: "RUN apk add curl",
		Steps:  []Step{&Run{Argv: []string{"/bin/sh", "-c", "apk add curl"}, Shell: true, Command: "apk add curl", Origin: Origin{File: "/proj/a.image.hcl", Line: 4}}},
		Origin: Origin{File: "/proj/a.image.hcl", Line: 4, EndLine: 6}}
	l1.Key = LayerKey(l1.Parent, l1.Inputs)
	l2 := &Layer{Name: "copy app", Parent: l1.Key, Inputs: []KeyInput{{Name: "file app", Value: "sha256:aa 0644 /app"}}, CreatedBy: "COPY app /app",
		Steps:  []Step{&Copy{Sources: []string{"app"}, Dest: "/app", Files: []CopyFile{{Src: "app", Dst: "/app", Mode: 0o644}}, Origin: Origin{File: "/proj/a.image.hcl", Line: 7}}},
		Origin: Origin{File: "/proj/a.image.hcl", Line: 7}}
	l2.Key = LayerKey(l2.Parent, l2.Inputs)
	return &Plan{
		Project: "/proj",
		Targets: []*Target{{Name: "app", Kind: KindImage, Output: true, Base: base, Platform: plat, Layers: []*Layer{l1, l2}, Origin: Origin{File: "/proj/a.image.hcl", Line: 1}}},
		Optimizations: []Optimization{
			{Pass: "prune", Detail: "stage `test` is never used: not built", Origins: []Origin{{File: "/proj/a.image.hcl", Line: 10}}, Applied: true},
			{Pass: "merge", Detail: "would merge 2 run steps", Applied: false},
		},
	}
}

type jsonShape struct {
	Targets []struct {
		Name   string `json:"name"`
		Kind   string `json:"kind"`
		From   string `json:"from"`
		Layers []struct {
			Name     string `json:"name"`
			CacheKey string `json:"cache_key"`
			Cache    string `json:"cache"`
			Reason   string `json:"reason"`
			Source   string `json:"source"`
			Steps    []struct {
				Kind string `json:"kind"`
			} `json:"steps"`
		} `json:"layers"`
	} `json:"targets"`
	Optimizations []struct {
		Pass    string `json:"pass"`
		Detail  string `json:"detail"`
		Source  string `json:"source"`
		Applied bool   `json:"applied"`
	} `json:"optimizations"`
}

func TestPrintJSONShape(t *testing.T) {
	p := samplePlan()
	l := p.Targets[0].Layers
	st := map[CacheKey]Status{l[0].Key: {Hit: true}}
	var b bytes.Buffer
	if err := PrintJSON(&b, p, st); err != nil {
		t.Fatal(err)
	}
	var got, want jsonShape
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	wantJSON := `{"targets":[{"name":"app","kind":"image","from":"docker.io/library/alpine:3.20","layers":[
	  {"name":"run apk add curl","cache_key":"` + l[0].Key.String() + `","cache":"hit","reason":"","source":"a.image.hcl:4","steps":[{"kind":"run"}]},
	  {"name":"copy app","cache_key":"` + l[1].Key.String() + `","cache":"miss","reason":"never built","source":"a.image.hcl:7","steps":[{"kind":"copy"}]}]}],
	 "optimizations":[{"pass":"prune","detail":"stage ` + "`test`" + ` is never used: not built","source":"a.image.hcl:10","applied":true},
	  {"pass":"merge","detail":"would merge 2 run steps","source":"","applied":false}]}`
	if err := json.Unmarshal([]byte(wantJSON), &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}

func TestPrintText(t *testing.T) {
	p := samplePlan()
	l := p.Targets[0].Layers
	st := map[CacheKey]Status{l[0].Key: {Hit: true}, l[1].Key: {Reason: "copied file app changed"}}
	var b bytes.Buffer
	PrintText(&b, p, st, false)
	want := `image app  from docker.io/library/alpine:3.20  linux/amd64  (output)
  #  LAYER             STEPS             SOURCE         KEY           CACHE
  1  run apk add curl  run apk add curl  a.image.hcl:4  ` + l[0].Key.Short() + `  hit
  2  copy app          copy app to /app  a.image.hcl:7  ` + l[1].Key.Short() + `  miss  copied file app changed

optimizations
  prune  a.image.hcl:10  stage ` + "`test`" + ` is never used: not built
  merge  -               (not applied at this level) would merge 2 run steps
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}
	b.Reset()
	PrintText(&b, p, st, true)
	if !strings.Contains(b.String(), "\x1b[32mhit\x1b[0m") || !strings.Contains(b.String(), "\x1b[33mmiss\x1b[0m") {
		t.Errorf("color output lacks colored statuses:\n%q", b.String())
	}
}

func TestCheck(t *testing.T) {
	if err := Check(samplePlan(), true); err != nil {
		t.Fatalf("valid plan: %v", err)
	}
	p := samplePlan()
	p.Targets[0].Layers[1].Inputs = []KeyInput{{Name: "file app", Value: "changed"}}
	if err := Check(p, true); err == nil || !strings.Contains(err.Error(), "its inputs give") {
		t.Errorf("stale key not caught: %v", err)
	}
	if err := Check(p, false); err != nil {
		t.Errorf("keys checked although keys=false: %v", err)
	}
	p = samplePlan()
	p.Targets[0].DependsOn = []string{"later"}
	p.Targets = append(p.Targets, &Target{Name: "later", Kind: KindStage, Base: Base{Kind: BaseScratch, Key: ScratchKey(Platform{})}})
	if err := Check(p, true); err == nil || !strings.Contains(err.Error(), "built before") {
		t.Errorf("order violation not caught: %v", err)
	}
	p = samplePlan()
	p.Targets[0].Layers[1].Parent = KeyOf([]byte("x"))
	if err := Check(p, true); err == nil || !strings.Contains(err.Error(), "has parent") {
		t.Errorf("broken parent chain not caught: %v", err)
	}
}

func TestPrintNamesEmptyLayers(t *testing.T) {
	l := &Layer{Name: "run true", Key: KeyOf([]byte("k")), Steps: []Step{&Run{Argv: []string{"true"}}}}
	p := &Plan{Targets: []*Target{{Name: "app", Kind: KindImage, Layers: []*Layer{l}}}}
	st := map[CacheKey]Status{l.Key: {Hit: true, Empty: true}}
	var text, js strings.Builder
	PrintText(&text, p, st, false)
	if !strings.Contains(text.String(), "hit  empty: not in the image") {
		t.Errorf("text plan does not say the layer was empty:\n%s", text.String())
	}
	if err := PrintJSON(&js, p, st); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"empty": true`) {
		t.Errorf("JSON plan does not say the layer was empty:\n%s", js.String())
	}
}

// A module's file beside the configuration shows as a relative path in the
// plan (../platform/...); one far away stays absolute.
func TestSourceOfModuleFiles(t *testing.T) {
	src := sourcer("/work/proj/app")
	for file, want := range map[string]string{
		"/work/proj/app/app.image.hcl":       "app.image.hcl:3",
		"/work/proj/platform/base.image.hcl": "../platform/base.image.hcl:3",
		"/a/b/c/d/e/far.image.hcl":           "/a/b/c/d/e/far.image.hcl:3",
	} {
		if got := src(Origin{File: file, Line: 3}); got != want {
			t.Errorf("%s: %q, want %q", file, got, want)
		}
	}
}
