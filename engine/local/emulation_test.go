package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgc-dev/imgc/ir"
)

// The handler entries as the kernel lists them once .ci/binfmt registered
// Debian's qemu-user-static (/proc/sys/fs/binfmt_misc/qemu-aarch64).
const (
	aarch64Entry = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POF\noffset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n"
	armEntry     = "enabled\ninterpreter /usr/libexec/qemu-binfmt/arm-binfmt-P\nflags: POF\noffset 0\nmagic 7f454c4601010100000000000000000002002800\nmask ffffffffffffff00fffffffffffffffffeffffff\n"
)

func TestFindHandler(t *testing.T) {
	arm64 := ir.Platform{OS: "linux", Architecture: "arm64"}
	armv7 := ir.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	tests := []struct {
		name    string
		entries map[string]string // nil: binfmt_misc not mounted
		p       ir.Platform
		want    string // "" when it runs
	}{
		{"registered", map[string]string{"register": "", "qemu-aarch64": aarch64Entry}, arm64, ""},
		{"any name", map[string]string{"register": "", "aarch64-tonistiigi": aarch64Entry}, arm64, ""},
		{"arm", map[string]string{"register": "", "qemu-arm": armEntry, "qemu-aarch64": aarch64Entry}, armv7, ""},
		{"not mounted", nil, arm64, "binfmt_misc is not mounted"},
		{"none", map[string]string{"register": "", "status": "enabled"}, arm64, "no binfmt_misc handler for aarch64 is registered: install QEMU user emulation (apt-get install qemu-user-static)"},
		{"other arch only", map[string]string{"register": "", "qemu-arm": armEntry}, arm64, "no binfmt_misc handler for aarch64"},
		{"disabled handler", map[string]string{"register": "", "qemu-aarch64": strings.Replace(aarch64Entry, "enabled", "disabled", 1)}, arm64, "no binfmt_misc handler for aarch64"},
		{"without F", map[string]string{"register": "", "qemu-aarch64": strings.Replace(aarch64Entry, "POF", "PO", 1)}, arm64, "registered without the F flag"},
		{"unknown arch", map[string]string{"register": ""}, ir.Platform{OS: "linux", Architecture: "sparc64"}, "no binfmt_misc handler for the architecture \"sparc64\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tt.entries {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			old := binfmtDir
			binfmtDir = dir
			defer func() { binfmtDir = old }()
			err := findHandler(tt.p)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("findHandler(%s) = %v, want it to run", tt.p, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("findHandler(%s) = %v, want an error with %q", tt.p, err, tt.want)
			}
		})
	}
}
