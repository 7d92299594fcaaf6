package runc

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRuncVersionCheck(t *testing.T) {
	for _, tc := range []struct {
		out  string
		ok   bool
		vuln bool
	}{
		{"runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\n", true, true},
		{"runc version 1.3.5\n", true, true},
		{"runc version 1.3.6\n", true, false},
		{"runc version 1.4.0-rc.1\n", true, true},
		{"runc version 1.4.2\n", true, true},
		{"runc version 1.4.3\n", true, false},
		{"runc version 1.4.4\ncommit: v1.4.4-module-proxy\n", true, false},
		{"runc version 1.5.0\n", true, false},
		{"runc version 2.0.0\n", true, false},
		{"runc version 0.1.1\n", true, true},
		{"crun version 1.8.1\n", false, false},
	} {
		v, ok := parseVersion(tc.out)
		if ok != tc.ok || (ok && followsDevSymlink(v) != tc.vuln) {
			t.Errorf("%q: parsed %v %v, vulnerable %v; want ok %v, vulnerable %v", tc.out, v, ok, followsDevSymlink(v), tc.ok, tc.vuln)
		}
	}
}

func TestBinaryPrefersIMGC_RUNC(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "my-runc")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho runc version 1.1.0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("IMGC_RUNC", fake)
	if got, err := Binary(); err != nil || got != fake {
		t.Errorf("Binary() = %q, %v; want %q", got, err, fake)
	}
	if w := versionWarning(); w == "" {
		t.Error("no warning for runc 1.1.0")
	}
	t.Setenv("IMGC_RUNC", filepath.Join(t.TempDir(), "missing"))
	if _, err := Binary(); err == nil {
		t.Error("Binary() accepted a missing IMGC_RUNC")
	}
}

func TestInMemory(t *testing.T) {
	if !inMemory("/dev/shm") {
		t.Skip("/dev/shm is not a tmpfs here")
	}
	if !inMemory("/dev/shm/no/such/dir") {
		t.Error("a missing directory under /dev/shm is not seen as in memory")
	}
}
