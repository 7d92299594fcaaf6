package store_test

import (
	"testing"

	"github.com/imgc-dev/imgc/store"
)

func TestUnpackLimitsParse(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "off": -1, "20GiB": 20 << 30, "500MB": 500e6, "1024": 1024, "2 k": 2048} {
		got, err := store.ParseUnpackLimits(in)
		if err != nil || got.Max != want {
			t.Errorf("ParseUnpackLimits(%q) = %+v, %v; want Max %d", in, got, err, want)
		}
	}
	for _, in := range []string{"-1", "lots", "5 parsecs", "99999999999999999999", "9999999999TiB"} {
		if _, err := store.ParseUnpackLimits(in); err == nil {
			t.Errorf("ParseUnpackLimits(%q) accepted", in)
		}
	}
}
