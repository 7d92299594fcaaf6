package runc

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResolvConfFor(t *testing.T) {
	for _, c := range []struct{ host, want string }{
		{"nameserver 192.0.2.53\nsearch example.com\n", "nameserver 192.0.2.53\nsearch example.com\n"},
		{"nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n", "nameserver 10.0.2.3\noptions edns0 trust-ad\nsearch lan\n"},
		{"nameserver 192.0.2.53\nnameserver ::1\n", "nameserver 10.0.2.3\n"},
		{"nameserver fe80::1%eth0\n", "nameserver fe80::1%eth0\n"},
		{"# no servers\n", "nameserver 10.0.2.3\n# no servers\n"},
	} {
		if diff := cmp.Diff(c.want, string(resolvConfFor([]byte(c.host)))); diff != "" {
			t.Errorf("resolv.conf for %q (-want +got):\n%s", c.host, diff)
		}
	}
}

// TestStaleNetworksCleared: a namespace left by a process that is gone
// (imgc killed before Close) is removed by the next NewNetwork's sweep;
// one of a running process stays.
func TestStaleNetworksCleared(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to make network namespaces")
	}
	old := NetnsDir
	NetnsDir = t.TempDir()
	defer func() { NetnsDir = old }()
	// A pid above the kernel's maximum (4194304) belongs to no process.
	stale := filepath.Join(NetnsDir, "9999999-abc")
	live := filepath.Join(NetnsDir, "1-abc") // init is always running
	for _, p := range []string{stale, live} {
		if err := newNetns(p); err != nil {
			t.Fatal(err)
		}
	}
	defer removeNetns(live)
	if err := os.WriteFile(stale+".resolv.conf", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	clearStaleNetworks()
	for _, p := range []string{stale, stale + ".resolv.conf"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after the sweep: %v", p, err)
		}
	}
	if out, err := exec.Command("nsenter", "--net="+live, "true").CombinedOutput(); err != nil {
		t.Errorf("the live namespace was removed: %v %s", err, out)
	}
}
