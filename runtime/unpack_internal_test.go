package runtime

import "testing"

func TestUnpackLimitDefaults(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		u            UnpackLimits
		size         int64
		layer, image int64
	}{
		{UnpackLimits{}, 4 << 20, 40<<20 + gib, 40<<20 + 4*gib},
		{UnpackLimits{}, 0, gib, 4 * gib},
		{UnpackLimits{}, maxInt64 / 2, maxInt64, maxInt64},
		{UnpackLimits{Max: 5}, 4 << 20, 5, 5},
		{UnpackLimits{Max: -1}, 4 << 20, 0, 0},
	} {
		if got := tc.u.layer(tc.size); got != tc.layer {
			t.Errorf("%+v.layer(%d) = %d, want %d", tc.u, tc.size, got, tc.layer)
		}
		if got := tc.u.image(tc.size); got != tc.image {
			t.Errorf("%+v.image(%d) = %d, want %d", tc.u, tc.size, got, tc.image)
		}
	}
}
