package ir

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzIndentJSON: for any value json.Marshal encodes, indentJSON gives
// exactly json.Indent's output.
func FuzzIndentJSON(f *testing.F) {
	f.Add(`{"a":[1,2,{}],"b":{"c":[]},"d":"x,y:{[\"]}\\\\"}`)
	f.Add(`[]`)
	f.Add(`"<tag> & \u2028"`)
	f.Add(`[[[]],[{"":null}],true,false,-1.5e10]`)
	f.Fuzz(func(t *testing.T, doc string) {
		var v any
		if json.Unmarshal([]byte(doc), &v) != nil {
			// Any string is a JSON string too.
			v = doc
		}
		compact, err := json.Marshal(v)
		if err != nil {
			return
		}
		var want bytes.Buffer
		if err := json.Indent(&want, compact, "", "  "); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want.String(), string(indentJSON(nil, compact))); diff != "" {
			t.Errorf("indentJSON(%s) (-json.Indent +indentJSON):\n%s", compact, diff)
		}
	})
}

// TestIndentJSONToWritesInPieces: a document larger than what
// indentJSONTo holds is written in several pieces that together are
// json.Indent's output, and the buffer it keeps stays small.
func TestIndentJSONToWritesInPieces(t *testing.T) {
	var v []map[string]any
	for i := range 5000 {
		v = append(v, map[string]any{"name": "layer", "i": i, "inputs": []string{"a,b", "{c}"}, "empty": []int{}})
	}
	compact, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := json.Indent(&want, compact, "", "  "); err != nil {
		t.Fatal(err)
	}
	var got countingWriter
	rest, err := indentJSONTo(&got, nil, compact)
	if err != nil {
		t.Fatal(err)
	}
	got.Write(rest)
	if diff := cmp.Diff(want.String(), got.String()); diff != "" {
		t.Errorf("indentJSONTo (-json.Indent +indentJSONTo):\n%s", diff)
	}
	if got.writes < want.Len()/(64<<10) || cap(rest) > 64<<10 {
		t.Errorf("%d bytes written in %d pieces, %d bytes kept; want pieces of about 32 KiB", want.Len(), got.writes, cap(rest))
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
