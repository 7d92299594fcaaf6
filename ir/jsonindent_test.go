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
