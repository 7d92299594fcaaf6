package local_test

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/local/runc"
	"github.com/imgc-dev/imgc/ir"
)

// TestBuildNetworks: default-network steps of a build share one private
// network (lo and tap0, the same namespace across targets); host-network
// steps need AllowNetworkHost, and are refused naming their line without it.
func TestBuildNetworks(t *testing.T) {
	base := requireRuntime(t)
	if _, err := exec.LookPath("slirp4netns"); err != nil {
		t.Skip("skipping: needs slirp4netns (make deps installs it)")
	}
	withNet := func(r *ir.Run, n ir.Network) *ir.Run { r.Network = n; return r }
	check := `test "$(echo $(ls /sys/class/net))" = "lo tap0" && ip route | grep -q "^default via 10.0.2.2" && readlink /proc/self/ns/net > /netns`
	a := target("a", busyboxBase(base), layerOf("net", withNet(sh(check), ir.NetworkDefault)))
	b := target("b", busyboxBase(base), layerOf("net", withNet(sh(check+" # b"), ir.NetworkDefault)))
	hostStep := withNet(sh("test ! -e /sys/class/net/tap0"), ir.NetworkHost)
	h := target("h", busyboxBase(base), layerOf("host", hostStep))

	a.Tags, b.Tags = []string{"localhost/net/a:1"}, []string{"localhost/net/b:1"}
	s := openStore(t)
	_, _, err := build(t, s, &ir.Plan{Project: "net", Targets: []*ir.Target{a, b, h}}, engine.BuildOptions{})
	var se *engine.StepError
	if !errors.As(err, &se) || len(se.Origins) != 1 || se.Origins[0] != hostStep.Origin || !strings.Contains(err.Error(), "--allow network.host") {
		t.Fatalf("build with a host-network step and no entitlement: %v, want a step error at %s saying --allow network.host", err, hostStep.Origin)
	}
	out := t.TempDir()
	if _, _, err := build(t, s, &ir.Plan{Project: "net", Targets: []*ir.Target{a, b, h}},
		engine.BuildOptions{AllowNetworkHost: true, Outputs: []engine.Output{{Type: "oci", Dest: out}}}); err != nil {
		t.Fatal(err)
	}
	nsA, nsB := imageFile(t, layoutImage(t, out, a.Tags[0]), "netns"), imageFile(t, layoutImage(t, out, b.Tags[0]), "netns")
	if nsA == "" || nsA != nsB {
		t.Errorf("the targets' steps ran in network namespaces %q and %q, want one shared", nsA, nsB)
	}
	// The build removed its network.
	left, _ := filepath.Glob(filepath.Join(runc.NetnsDir, fmt.Sprintf("%d-*", os.Getpid())))
	if len(left) > 0 {
		t.Errorf("left after the build: %q", left)
	}
}

// imageFile returns the content of the file at name in img's filesystem.
func imageFile(t testing.TB, img v1.Image, name string) string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no %s in the image: %v", name, err)
		}
		if strings.TrimPrefix(h.Name, "./") == name {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(data)
		}
	}
}
