package buildkit

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/buildkit/session/auth"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgc-dev/imgc/ir"
)

// A cache mount without an id is per platform, the daemon's own keeping
// the plain target, as on the local engine; an explicit id is shared.
func TestCacheID(t *testing.T) {
	amd := ir.Platform{OS: "linux", Architecture: "amd64"}
	arm := ir.Platform{OS: "linux", Architecture: "arm64"}
	for _, c := range []struct {
		m       ir.Mount
		p, host ir.Platform
		want    string
	}{
		{ir.Mount{Target: "/root/.cache"}, amd, amd, "/root/.cache"},
		{ir.Mount{Target: "/root/.cache", ID: "/root/.cache"}, arm, amd, "/root/.cache@linux/arm64"},
		{ir.Mount{Target: "/root/.cache"}, arm, amd, "/root/.cache@linux/arm64"},
		{ir.Mount{Target: "/root/.cache", ID: "go"}, arm, amd, "go"},
		{ir.Mount{Target: "/root/.cache"}, arm, ir.Platform{}, "/root/.cache"},
	} {
		if got := cacheID(c.m, c.p, c.host); got != c.want {
			t.Errorf("cacheID(%+v, %s, daemon %s) = %q, want %q", c.m, c.p, c.host, got, c.want)
		}
	}
}

// The daemon's platforms match a wanted one after normalisation, and the
// list names each once.
func TestSupports(t *testing.T) {
	have := []ocispecs.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "amd64", Variant: "v2"},
		{OS: "linux", Architecture: "arm64"}, {OS: "linux", Architecture: "arm", Variant: "v7"}, {OS: "linux", Architecture: "amd64"}}
	for _, c := range []struct {
		want ocispecs.Platform
		ok   bool
	}{
		{ocispecs.Platform{OS: "linux", Architecture: "arm64"}, true},
		{ocispecs.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, true},
		{ocispecs.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, true},
		{ocispecs.Platform{OS: "linux", Architecture: "s390x"}, false},
		{ocispecs.Platform{OS: "linux", Architecture: "riscv64"}, false},
	} {
		if got := supports(have, c.want); got != c.ok {
			t.Errorf("supports(%v) = %v, want %v", c.want, got, c.ok)
		}
	}
	if diff := cmp.Diff("linux/amd64, linux/amd64/v2, linux/arm/v7, linux/arm64", platformList(have)); diff != "" {
		t.Errorf("platformList (-want +got):\n%s", diff)
	}
}

// The daemon gets the credentials of the build's registries only.
func TestAuthServerLendsOnlyTheBuildsRegistries(t *testing.T) {
	dir := t.TempDir()
	cfg := `{"auths": {"reg.example:5000": {"auth": "` + base64.StdEncoding.EncodeToString([]byte("me:secret")) + `"},
		"other.example": {"auth": "` + base64.StdEncoding.EncodeToString([]byte("you:hidden")) + `"}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	a := newAuthServer()
	a.allow("reg.example:5000/base:1@sha256:" + strings.Repeat("a", 64))
	for host, want := range map[string][2]string{"reg.example:5000": {"me", "secret"}, "other.example": {"", ""}} {
		r, err := a.Credentials(context.Background(), &auth.CredentialsRequest{Host: host})
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		if got := [2]string{r.Username, r.Secret}; got != want {
			t.Errorf("credentials for %s: %q, want %q", host, got, want)
		}
	}
}
