package local

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/imgc-dev/imgc/ir"
)

// binfmtDir is where the kernel's binfmt_misc lists its handlers.
var binfmtDir = "/proc/sys/fs/binfmt_misc" // a variable for tests

// elfMachine is the ELF class (byte 4) and e_machine (bytes 18-19, little
// endian) of each architecture's binaries, which a binfmt_misc handler for
// it matches.
var elfMachine = map[string]struct {
	class   byte
	machine [2]byte
	qemu    string // Debian's qemu-user-static name
}{
	"amd64":    {2, [2]byte{0x3e, 0x00}, "x86_64"},
	"386":      {1, [2]byte{0x03, 0x00}, "i386"},
	"arm64":    {2, [2]byte{0xb7, 0x00}, "aarch64"},
	"arm":      {1, [2]byte{0x28, 0x00}, "arm"},
	"ppc64le":  {2, [2]byte{0x15, 0x00}, "ppc64le"},
	"s390x":    {2, [2]byte{0x16, 0x00}, "s390x"},
	"riscv64":  {2, [2]byte{0xf3, 0x00}, "riscv64"},
	"mips64le": {2, [2]byte{0x08, 0x00}, "mips64el"},
}

// native tells whether the host runs arch's binaries without emulation.
func native(arch string) bool {
	return arch == runtime.GOARCH || (runtime.GOARCH == "amd64" && arch == "386") ||
		(runtime.GOARCH == "arm64" && arch == "arm" && armOnArm64())
}

// armOnArm64 is whether this arm64 host's kernel runs 32-bit arm binaries
// (most do; some cloud processors have no AArch32).
func armOnArm64() bool {
	_, err := os.Stat("/proc/sys/abi/cp15_barrier")
	return err == nil
}

var emulation sync.Map // arch -> error (nil: runs)

// checkEmulation tells whether run steps of platform p can run here: the
// host's own architecture, or one a binfmt_misc handler with the F flag
// (the kernel opens the interpreter when it is registered, so it runs
// inside a container whose root has no QEMU) emulates. The answer is the
// same for a whole build: it is looked up once per architecture.
func checkEmulation(p ir.Platform) error {
	if native(p.Architecture) {
		return nil
	}
	if v, ok := emulation.Load(p.Architecture); ok {
		err, _ := v.(error)
		return err
	}
	err := findHandler(p)
	emulation.Store(p.Architecture, err)
	return err
}

func findHandler(p ir.Platform) error {
	m, known := elfMachine[p.Architecture]
	qemu := p.Architecture
	if known {
		qemu = m.qemu
	}
	fix := fmt.Sprintf("install QEMU user emulation (apt-get install qemu-user-static) and register it with the F flag: `make deps` does both, or, as root, mount -t binfmt_misc binfmt_misc %s if %s/register is missing, then write the line of /usr/lib/binfmt.d/qemu-%s.conf, with F added to its flags, into %s/register",
		binfmtDir, binfmtDir, qemu, binfmtDir)
	host := "linux/" + runtime.GOARCH
	if !known {
		return fmt.Errorf("%s binaries cannot run on this %s host: imgc knows no binfmt_misc handler for the architecture %q. Remove the run steps, or build on a %s host", p, host, p.Architecture, p)
	}
	if _, err := os.Stat(filepath.Join(binfmtDir, "register")); err != nil {
		return fmt.Errorf("%s binaries (run steps, imgc run) need emulation on this %s host, and binfmt_misc is not mounted (%s/register is missing): %s", p, host, binfmtDir, fix)
	}
	entries, _ := os.ReadDir(binfmtDir)
	noF := ""
	for _, e := range entries {
		if e.Name() == "register" || e.Name() == "status" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(binfmtDir, e.Name()))
		if err != nil {
			continue
		}
		h := parseHandler(data)
		if !h.enabled || !h.matches(m.class, m.machine) {
			continue
		}
		if !strings.Contains(h.flags, "F") {
			noF = e.Name()
			continue
		}
		if _, err := os.Stat(filepath.Join(binfmtDir, "status")); err == nil {
			if st, _ := os.ReadFile(filepath.Join(binfmtDir, "status")); strings.TrimSpace(string(st)) == "disabled" {
				return fmt.Errorf("%s binaries (run steps, imgc run) need emulation on this %s host, and binfmt_misc is disabled (%s/status): write 1 into it", p, host, binfmtDir)
			}
		}
		return nil
	}
	if noF != "" {
		return fmt.Errorf("%s binaries (run steps, imgc run) need emulation on this %s host, and its binfmt_misc handler %s was registered without the F flag, so it cannot run inside a container: write -1 into %s/%s to remove it, then register it again with F (`make deps` does)", p, host, noF, binfmtDir, noF)
	}
	return fmt.Errorf("%s binaries (run steps, imgc run) need emulation on this %s host, and no binfmt_misc handler for %s is registered: %s", p, host, qemu, fix)
}

type handler struct {
	enabled bool
	flags   string
	offset  int
	magic   []byte
	mask    []byte
}

func parseHandler(data []byte) handler {
	var h handler
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch k {
		case "enabled":
			h.enabled = true
		case "flags:":
			h.flags = v
		case "offset":
			fmt.Sscan(v, &h.offset)
		case "magic":
			h.magic, _ = hex.DecodeString(v)
		case "mask":
			h.mask, _ = hex.DecodeString(v)
		}
	}
	return h
}

// matches tells whether the handler takes ELF binaries of class and
// machine.
func (h handler) matches(class byte, machine [2]byte) bool {
	hdr := make([]byte, 20)
	copy(hdr, "\x7fELF")
	hdr[4], hdr[5], hdr[6] = class, 1, 1 // little endian, ELF version 1
	hdr[16] = 2                          // ET_EXEC
	hdr[18], hdr[19] = machine[0], machine[1]
	if h.offset != 0 || len(h.magic) == 0 || len(h.magic) > len(hdr) {
		return false
	}
	got := make([]byte, len(h.magic))
	for i := range h.magic {
		b := hdr[i]
		if i < len(h.mask) {
			b &= h.mask[i]
		}
		got[i] = b
	}
	want := h.magic
	if len(h.mask) > 0 {
		want = make([]byte, len(h.magic))
		for i := range h.magic {
			want[i] = h.magic[i]
			if i < len(h.mask) {
				want[i] &= h.mask[i]
			}
		}
	}
	return bytes.Equal(got, want)
}
