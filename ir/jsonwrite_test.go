package ir

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fuzzPlan is a plan in its JSON form with s in every string and every
// optional member present or absent by the bits of n.
func fuzzPlan(s string, n uint) jsonPlan {
	on := func(bit uint) bool { return n&(1<<bit) != 0 }
	strs := func(bit uint) []string {
		switch {
		case on(bit) && on(bit+1):
			return []string{s, s + "x"}
		case on(bit):
			return []string{}
		}
		return nil
	}
	l := jsonLayer{Name: s, CacheKey: "sha256:" + s, Parent: s, Cache: "hit", Reason: s, Source: s, CreatedBy: s,
		NoCache: on(0), Skipped: on(1), Empty: on(2), Steps: []jsonStep{{Kind: StepRun, Summary: s, Source: s}},
		Inputs: []KeyInput{{Name: s, Value: s}, {Name: "b", Value: ""}}}
	if on(3) {
		l.From, l.KeyPending = s, s
		l.Steps = append(l.Steps, jsonStep{Kind: StepKind(s), Summary: "", Source: "f:1", Definition: s})
		l.Vars = map[string]string{s: "1", "z": s, "a": ""}
	}
	if on(4) {
		l.Steps, l.Inputs = nil, []KeyInput{}
	}
	t := jsonTarget{Name: s, Kind: TargetKind(s), From: s, BaseKey: s, Platform: s, Output: on(5),
		Tags: strs(6), DependsOn: strs(8), Source: s, Layers: []jsonLayer{l, l}}
	p := jsonPlan{Project: s, Targets: []jsonTarget{t}, Optimizations: []jsonOptimization{
		{Pass: s, Detail: s, Source: s, Sources: strs(10), Applied: on(12)}, {}}}
	if on(13) {
		p.Targets = append(p.Targets, jsonTarget{Layers: []jsonLayer{}})
		p.Optimizations = nil
	}
	if on(14) {
		p.Targets[0].Layers = nil
	}
	return p
}

// FuzzPlanJSON: the hand-written writer gives exactly what
// json.MarshalIndent gives, for any string in any field and any set of
// optional members.
func FuzzPlanJSON(f *testing.F) {
	f.Add("plain", uint(0))
	f.Add("<tag> & \"q\" \\ \u2028\u2029 \x00\x1f\x7f \b\f\n\r\t", uint(0x7fff))
	f.Add("\xff\xfe broken \xe2\x82 utf-8 é 日本", uint(0x2a5a))
	f.Fuzz(func(t *testing.T, s string, n uint) {
		p := fuzzPlan(s, n)
		want, err := json.MarshalIndent(p, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		j := &jsonWriter{w: &got}
		j.plan(&p)
		got.Write(j.buf)
		if diff := cmp.Diff(string(want), got.String()); diff != "" {
			t.Errorf("jsonWriter (-json.MarshalIndent +jsonWriter):\n%s", diff)
		}
	})
}

// TestPlanJSONWritesInPieces: a large plan's JSON is written in pieces of
// about 32 KiB, which together are json.MarshalIndent's output.
func TestPlanJSONWritesInPieces(t *testing.T) {
	p := fuzzPlan(strings.Repeat("layer ", 10), 0x0f)
	for range 12 {
		p.Targets[0].Layers = append(p.Targets[0].Layers, p.Targets[0].Layers...)
	}
	want, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var got countingWriter
	j := &jsonWriter{w: &got}
	j.plan(&p)
	got.Write(j.buf)
	if diff := cmp.Diff(string(want), got.String()); diff != "" {
		t.Errorf("jsonWriter (-json.MarshalIndent +jsonWriter):\n%s", diff)
	}
	if got.writes < len(want)/(64<<10) || cap(j.buf) > 64<<10 {
		t.Errorf("%d bytes written in %d pieces, %d bytes kept; want pieces of about 32 KiB", len(want), got.writes, cap(j.buf))
	}
}

type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}
