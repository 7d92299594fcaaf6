package runc

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// BuildKit v0.34.2 runs `id` as: app -> groups=1500(app),1600(extra);
// app:root -> groups=0(root); 1234:5678 -> groups=5678.
func TestProcessGids(t *testing.T) {
	for _, tc := range []struct {
		spec string
		u    user
		want []uint32
	}{
		{"app", user{uid: 1500, gid: 1500, gids: []uint32{1600}}, []uint32{1500, 1600}},
		{"app:root", user{uid: 1500, gid: 0, gids: []uint32{1600}}, []uint32{0}},
		{"1234:5678", user{uid: 1234, gid: 5678}, []uint32{5678}},
		{"", user{}, []uint32{0}},
		{"app", user{uid: 1500, gid: 1500, gids: []uint32{1500, 29}}, []uint32{1500, 29}},
	} {
		if diff := cmp.Diff(tc.want, processGids(tc.u, tc.spec)); diff != "" {
			t.Errorf("processGids(%q) (-want +got):\n%s", tc.spec, diff)
		}
	}
}
