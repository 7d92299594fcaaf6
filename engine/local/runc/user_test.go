package runc_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/engine/local/runc"
)

func TestResolveUser(t *testing.T) {
	rootfs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	passwd := `# comment
root:x:0:0:root:/root:/bin/sh
broken line
app:x:1000:1000:App:/home/app:/bin/sh
other:x:1001:1001::/home/other:/bin/sh
`
	group := `root:x:0:
app:x:1000:
audio:x:29:app,other
video:x:44: other , app
nogid:x:notanumber:app
`
	os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte(passwd), 0o644)
	os.WriteFile(filepath.Join(rootfs, "etc/group"), []byte(group), 0o644)

	type ids struct {
		UID, GID uint32
		Gids     []uint32
	}
	for _, tc := range []struct {
		user string
		want ids
		err  string
	}{
		{user: "", want: ids{0, 0, nil}},
		{user: "root", want: ids{0, 0, nil}},
		{user: "app", want: ids{1000, 1000, []uint32{29, 44}}},
		{user: "1000", want: ids{1000, 1000, []uint32{29, 44}}},
		{user: "app:audio", want: ids{1000, 29, []uint32{44}}},
		{user: "app:7", want: ids{1000, 7, []uint32{29, 44}}},
		{user: "4242", want: ids{4242, 0, nil}},
		{user: "4242:4242", want: ids{4242, 4242, nil}},
		{user: "ghost", err: `no user "ghost" in the image's /etc/passwd`},
		{user: "app:ghosts", err: `no group "ghosts" in the image's /etc/group`},
		{user: ":0", err: "empty user name"},
		{user: "app:", err: "empty group name"},
		{user: "99999999999", err: `no user "99999999999"`},
	} {
		uid, gid, gids, err := runc.ResolveUser(rootfs, tc.user)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ResolveUser(%q) error = %v, want one containing %q", tc.user, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ResolveUser(%q): %v", tc.user, err)
			continue
		}
		if diff := cmp.Diff(tc.want, ids{uid, gid, gids}); diff != "" {
			t.Errorf("ResolveUser(%q) (-want +got):\n%s", tc.user, diff)
		}
	}
}

// TestResolveUserStaysInRootfs checks that an image's /etc/passwd symlink
// is resolved inside the rootfs, never on the host.
func TestResolveUserStaysInRootfs(t *testing.T) {
	host := filepath.Join(t.TempDir(), "host-passwd")
	if err := os.WriteFile(host, []byte("evil:x:4242:4242::/:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rootfs := t.TempDir()
	os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755)
	if err := os.Symlink(host, filepath.Join(rootfs, "etc/passwd")); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := runc.ResolveUser(rootfs, "evil"); err == nil {
		t.Fatal("ResolveUser read the host's file through a symlink")
	}
	// Without a passwd file, numeric ids still work.
	uid, gid, _, err := runc.ResolveUser(rootfs, "5:6")
	if err != nil || uid != 5 || gid != 6 {
		t.Errorf("ResolveUser(5:6) = %d, %d, %v", uid, gid, err)
	}
}
