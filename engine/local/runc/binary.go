package runc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultBinary is where `make deps` builds a runc with the fixes imgc
// needs; imgc prefers it to the runc on PATH. The environment variable
// IMGC_RUNC, when set, names the runc to use instead of both.
var DefaultBinary = "/usr/local/libexec/imgc/runc"

// Binary returns the runc imgc runs: $IMGC_RUNC, else DefaultBinary when it
// is there, else the runc on PATH.
func Binary() (string, error) {
	if p := os.Getenv("IMGC_RUNC"); p != "" {
		found, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("finding runc (IMGC_RUNC=%s): %w", p, err)
		}
		return found, nil
	}
	if unix.Access(DefaultBinary, unix.X_OK) == nil {
		return DefaultBinary, nil
	}
	p, err := exec.LookPath("runc")
	if err != nil {
		return "", fmt.Errorf("finding runc: %w (run `make deps`, or set IMGC_RUNC)", err)
	}
	return p, nil
}

var versionRE = regexp.MustCompile(`(?m)^runc version v?(\d+)\.(\d+)\.(\d+)`)

// parseVersion reads major, minor and patch from `runc --version`'s output.
func parseVersion(out string) (v [3]int, ok bool) {
	m := versionRE.FindStringSubmatch(out)
	if m == nil {
		return v, false
	}
	for i := range v {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	return v, true
}

// followsDevSymlink reports whether runc version v follows a rootfs's /dev
// symlink onto the host when it sets up /dev (CVE-2026-41579): fixed in
// 1.3.6, 1.4.3 and every 1.5.
func followsDevSymlink(v [3]int) bool {
	switch {
	case v[0] != 1:
		return v[0] < 1
	case v[1] < 3:
		return true
	case v[1] == 3:
		return v[2] < 6
	case v[1] == 4:
		return v[2] < 3
	}
	return false
}

var warnings struct {
	once sync.Once
	list []string
}

// Warnings returns, the first time it is called in a process, what is
// unsafe about the way steps will run here: a runc older than the fixed
// releases, bundles (which hold secret environment values) that are not
// in memory. Later calls return nothing, so that each is said once.
func Warnings() []string {
	var out []string
	warnings.once.Do(func() {
		if w := versionWarning(); w != "" {
			out = append(out, w)
		}
		if _, w := bundleRoot(); w != "" {
			out = append(out, w)
		}
	})
	return out
}

func versionWarning() string {
	p, err := Binary()
	if err != nil {
		return "" // the first step says it
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, p, "--version").Output()
	if err != nil {
		return fmt.Sprintf("could not tell the version of %s (%v); runc before 1.3.6 follows a base image's /dev symlink onto the host", p, err)
	}
	v, ok := parseVersion(string(out))
	if !ok {
		return fmt.Sprintf("could not tell the version of %s from %q", p, firstLine(string(out)))
	}
	if !followsDevSymlink(v) {
		return ""
	}
	return fmt.Sprintf("%s is runc %d.%d.%d, older than 1.3.6 (or 1.4.3): it follows a base image's /dev symlink onto the host "+
		"(CVE-2026-41579). imgc refuses such bases, but run `make deps` to build a fixed runc into %s, or point IMGC_RUNC at one",
		p, v[0], v[1], v[2], DefaultBinary)
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
