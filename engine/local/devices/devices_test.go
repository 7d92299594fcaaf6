package devices

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/ir"
)

// BuildKit's fixtures (solver/llbsolver/cdidevices/fixtures), with a
// device node and a spec that does not allow itself.
var specFiles = map[string]string{
	"vendor1-device.yaml": `cdiVersion: "0.6.0"
kind: "vendor1.com/device"
devices:
  - name: foo
    containerEdits:
      env: ["FOO=injected"]
      deviceNodes:
        - path: /dev/vendor1-foo
          hostPath: /dev/null
annotations:
  org.mobyproject.buildkit.device.autoallow: true
`,
	"vendor1-deviceclass.yaml": `cdiVersion: "0.6.0"
kind: "vendor1.com/deviceclass"
devices:
  - name: foo
    annotations:
      org.mobyproject.buildkit.device.class: class1
    containerEdits:
      env: ["FOO=injected"]
  - name: bar
    annotations:
      org.mobyproject.buildkit.device.class: class1
    containerEdits:
      env: ["BAR=injected"]
  - name: baz
    annotations:
      org.mobyproject.buildkit.device.class: class2
    containerEdits:
      env: ["BAZ=injected"]
`,
	"vendor1-devicemulti.yaml": `cdiVersion: "0.6.0"
kind: "vendor1.com/devicemulti"
containerEdits:
  env: ["MULTI=1"]
devices:
  - name: foo
    containerEdits:
      env: ["FOO=injected"]
  - name: bar
    containerEdits:
      env: ["BAR=injected"]
`,
	"broken.json": `{"cdiVersion": "0.6.0", "kind": "broken"`,
	"vendor2-net.yaml": `cdiVersion: "1.1.0"
kind: "vendor2.com/net"
devices:
  - name: nic
    containerEdits:
      netDevices:
        - hostInterfaceName: eth9
          name: eth1
`,
}

func openFixtures(t *testing.T) (*Registry, string) {
	t.Helper()
	dir := t.TempDir()
	for name, text := range specFiles {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Open([]string{dir, filepath.Join(dir, "absent")})
	if err != nil {
		t.Fatal(err)
	}
	return r, dir
}

func TestResolve(t *testing.T) {
	r, _ := openFixtures(t)
	for _, tc := range []struct {
		name          string
		devs          []ir.Device
		want, skipped []string
	}{
		{"one device", []ir.Device{{Name: "vendor1.com/device=foo", Required: true}}, []string{"vendor1.com/device=foo"}, nil},
		{"a kind is its first device by name", []ir.Device{{Name: "vendor1.com/devicemulti"}}, []string{"vendor1.com/devicemulti=bar"}, nil},
		{"every device of a kind", []ir.Device{{Name: "vendor1.com/devicemulti=*"}}, []string{"vendor1.com/devicemulti=bar", "vendor1.com/devicemulti=foo"}, nil},
		{"a class", []ir.Device{{Name: "class1"}}, []string{"vendor1.com/deviceclass=bar", "vendor1.com/deviceclass=foo"}, nil},
		{"once each", []ir.Device{{Name: "class1"}, {Name: "vendor1.com/deviceclass=foo"}}, []string{"vendor1.com/deviceclass=bar", "vendor1.com/deviceclass=foo"}, nil},
		{"optional and missing", []ir.Device{{Name: "vendor1.com/device=nope"}, {Name: "class9"}}, nil, []string{"vendor1.com/device=nope", "class9"}},
	} {
		got, skipped, err := r.Resolve(tc.devs)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: devices (-want +got):\n%s", tc.name, diff)
		}
		if diff := cmp.Diff(tc.skipped, skipped); diff != "" {
			t.Errorf("%s: skipped (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestResolveRequiredMissing(t *testing.T) {
	r, dir := openFixtures(t)
	_, _, err := r.Resolve([]ir.Device{{Name: "vendor1.com/device=nope", Required: true}})
	var me *MissingError
	if !errors.As(err, &me) {
		t.Fatalf("error %v, want a *MissingError", err)
	}
	msg := err.Error()
	for _, want := range []string{`"vendor1.com/device=nope"`, "vendor1.com/device=foo, vendor1.com/deviceclass=bar", filepath.Join(dir, "broken.json") + ": "} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
}

func TestCheck(t *testing.T) {
	r, _ := openFixtures(t)
	for _, tc := range []struct {
		name   string
		names  []string
		grant  engine.DeviceGrant
		denied []string
	}{
		{"a spec that allows itself", []string{"vendor1.com/device=foo"}, engine.DeviceGrant{}, nil},
		{"not granted", []string{"vendor1.com/devicemulti=foo", "vendor1.com/deviceclass=baz"}, engine.DeviceGrant{}, []string{"vendor1.com/devicemulti=foo", "vendor1.com/deviceclass=baz"}},
		{"every device", []string{"vendor1.com/devicemulti=foo"}, engine.DeviceGrant{All: true}, nil},
		{"granted by a kind's wildcard", []string{"vendor1.com/devicemulti=foo"}, engine.DeviceGrant{Names: []string{"vendor1.com/devicemulti=*"}}, nil},
		{"granted by class", []string{"vendor1.com/deviceclass=foo", "vendor1.com/deviceclass=baz"}, engine.DeviceGrant{Names: []string{"class1"}}, []string{"vendor1.com/deviceclass=baz"}},
	} {
		err := r.Check(tc.names, tc.grant)
		var de *DeniedError
		switch {
		case tc.denied == nil && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.denied != nil && !errors.As(err, &de):
			t.Errorf("%s: error %v, want a *DeniedError", tc.name, err)
		case tc.denied != nil:
			if diff := cmp.Diff(tc.denied, de.Names); diff != "" {
				t.Errorf("%s: denied (-want +got):\n%s", tc.name, diff)
			}
		}
	}
}

// Edit applies the spec's edits once and each device's, with the node's
// type and numbers read from the host, allowed by the device cgroup.
func TestEdit(t *testing.T) {
	r, _ := openFixtures(t)
	s := &specs.Spec{Process: &specs.Process{Env: []string{"PATH=/bin"}}, Linux: &specs.Linux{Resources: &specs.LinuxResources{}}}
	if err := r.Edit([]string{"vendor1.com/devicemulti=foo", "vendor1.com/devicemulti=bar", "vendor1.com/device=foo"})(s); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"PATH=/bin", "MULTI=1", "FOO=injected", "BAR=injected"}, s.Process.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if len(s.Linux.Devices) != 1 {
		t.Fatalf("devices %+v, want /dev/vendor1-foo", s.Linux.Devices)
	}
	d := s.Linux.Devices[0]
	if d.Path != "/dev/vendor1-foo" || d.Type != "c" || d.Major != 1 || d.Minor != 3 {
		t.Errorf("device %+v, want /dev/vendor1-foo c 1:3 (the host's /dev/null)", d)
	}
	rules := s.Linux.Resources.Devices
	if len(rules) != 1 || !rules[0].Allow || rules[0].Type != "c" || *rules[0].Major != 1 || *rules[0].Minor != 3 || rules[0].Access != "rwm" {
		t.Errorf("device cgroup rules %+v, want c 1:3 rwm allowed", rules)
	}
	if err := r.Edit([]string{"vendor1.com/device=gone"})(s); err == nil {
		t.Errorf("editing with a device the registry lacks succeeded")
	}
	// runc would ignore a network interface: refused.
	err := r.Edit([]string{"vendor2.com/net=nic"})(&specs.Spec{Process: &specs.Process{}, Linux: &specs.Linux{}})
	if err == nil || !strings.Contains(err.Error(), "netDevices") {
		t.Errorf("a device that moves a network interface: error %v, want one about netDevices", err)
	}
}
