package compiler

import (
	"errors"
	"strings"
	"testing"

	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/model"
)

// fakeFetcher answers from maps: what a server would serve.
type fakeFetcher struct {
	urls    map[string]string
	commits map[string]string
}

func (f fakeFetcher) URL(u string) (string, error) {
	if d, ok := f.urls[u]; ok {
		return d, nil
	}
	return "", errors.New("downloading " + u + ": 404 Not Found")
}

func (f fakeFetcher) Git(remote, ref string) (string, error) {
	if c, ok := f.commits[remote+"#"+ref]; ok {
		return c, nil
	}
	return "", errors.New("resolving " + ref + " of " + remote + ": no such branch or tag")
}

func remoteConfig(add *model.Add) *model.Config {
	add.Dest = "/x"
	add.Range = rng(3)
	return &model.Config{Stages: []*model.Stage{{Kind: model.KindImage, Name: "app", From: model.From{Base: &model.Scratch{}}, Steps: []model.Step{add}}}}
}

func TestFetchedSourcesAreKeyedByContent(t *testing.T) {
	const d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	const d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	const c1, c2 = "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222"
	key := func(add *model.Add, f Fetcher) (ir.CacheKey, *ir.Add) {
		t.Helper()
		p := mustCompile(t, remoteConfig(add), Options{Fetch: f})
		l := p.Targets[0].Layers[0]
		return l.Key, l.Steps[0].(*ir.Add)
	}
	url := "https://example.com/f"
	f1 := fakeFetcher{urls: map[string]string{url: d1}, commits: map[string]string{"https://h/r.git#main": c1, "https://h/r.git#v1": c1}}
	f2 := fakeFetcher{urls: map[string]string{url: d2}, commits: map[string]string{"https://h/r.git#main": c2}}

	fetched, step := key(&model.Add{URL: url}, f1)
	if step.Checksum != d1 || step.Pending() != "" {
		t.Errorf("fetched add: checksum %q, pending %q; want %s and none", step.Checksum, step.Pending(), d1)
	}
	pinned, _ := key(&model.Add{URL: url, Checksum: d1}, nil)
	if fetched != pinned {
		t.Errorf("a URL fetched to %s keys %s, the same URL pinned to it %s: want one key", d1, fetched, pinned)
	}
	changed, _ := key(&model.Add{URL: url}, f2)
	if changed == fetched {
		t.Error("changed content kept the key")
	}
	planned, step := key(&model.Add{URL: url}, nil)
	if step.Pending() != url || planned == fetched {
		t.Errorf("without a fetcher: pending %q, key %s; want the URL pending and another key", step.Pending(), planned)
	}

	g := func(ref string) *model.Add {
		return &model.Add{Git: &model.GitSource{Remote: "https://h/r.git", Ref: ref}}
	}
	main1, step := key(g("main"), f1)
	if step.Git.Commit != c1 {
		t.Errorf("git commit %q, want %s", step.Git.Commit, c1)
	}
	tag1, _ := key(g("v1"), f1)
	if main1 != tag1 {
		t.Error("two refs naming one commit have different keys; BuildKit keys by the commit")
	}
	if main2, _ := key(g("main"), f2); main2 == main1 {
		t.Error("a moved branch kept its key")
	}
	if _, step := key(g("main"), nil); !strings.HasPrefix(step.Pending(), "https://h/r.git#main") {
		t.Errorf("unresolved git source pending %q", step.Pending())
	}
}

func TestFetchFailureIsAtTheAdd(t *testing.T) {
	for _, add := range []*model.Add{{URL: "https://example.com/missing"}, {Git: &model.GitSource{Remote: "https://h/r.git", Ref: "nope"}}} {
		_, diags := Compile(remoteConfig(add), Options{Platform: amd64, Fetch: fakeFetcher{}})
		if !diags.HasErrors() {
			t.Fatalf("%+v: no error", add)
		}
		d := diags[0]
		if d.Subject == nil || d.Subject.Start.Line != 3 || !(strings.Contains(d.Detail, "404 Not Found") || strings.Contains(d.Detail, "no such branch")) {
			t.Errorf("%+v: %s at %v: %s; want the failure at line 3", add, d.Summary, d.Subject, d.Detail)
		}
	}
}
