package model

import (
	"strings"
	"testing"
)

// A variant every CPU of the architecture has is dropped, as containerd
// normalises it, so that linux/arm64/v8 matches an index's linux/arm64.
func TestParsePlatformNormalises(t *testing.T) {
	for in, want := range map[string]Platform{
		"linux/arm64/v8":   {OS: "linux", Architecture: "arm64"},
		"linux/arm64/8":    {OS: "linux", Architecture: "arm64"},
		"linux/arm64":      {OS: "linux", Architecture: "arm64"},
		"linux/amd64/v1":   {OS: "linux", Architecture: "amd64"},
		"linux/amd64/v3":   {OS: "linux", Architecture: "amd64", Variant: "v3"},
		"linux/arm/v7":     {OS: "linux", Architecture: "arm", Variant: "v7"},
		"linux/arm64/v9.2": {OS: "linux", Architecture: "arm64", Variant: "v9.2"},
	} {
		got, err := ParsePlatform(in)
		if err != nil || got != want {
			t.Errorf("ParsePlatform(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
}

func TestProxyEnv(t *testing.T) {
	got := strings.Join(ProxyEnv([]string{"http_proxy=a", "FOO=x", "HTTP_PROXY=b", "No_Proxy=c", "ALL_PROXY="}), " ")
	if want := "HTTP_PROXY=b http_proxy=b NO_PROXY=c no_proxy=c"; got != want {
		t.Errorf("ProxyEnv = %q, want %q", got, want)
	}
}
