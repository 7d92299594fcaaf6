package main

import (
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/imgc-dev/imgc/internal/buildkittest"
	"github.com/imgc-dev/imgc/internal/testbase"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"imgc": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI scenarios in testdata/script. Scripts that build
// images use the [root] condition and $BASE, a busybox OCI layout.
func TestScripts(t *testing.T) {
	base := ""
	if os.Geteuid() == 0 {
		if _, err := os.Stat(testbase.BusyboxPath); err == nil {
			base = testbase.Busybox(t)
		}
	}
	// $MULTIBASE is a busybox index of linux/amd64 and linux/arm64 for the
	// scripts that build for arm64 under emulation ([emulated]).
	multi := ""
	if base != "" && testbase.Arm64Runs() {
		multi = testbase.MultiArch(t)
	}
	// Scripts marked [buildkit] build on a buildkitd of their own.
	bkAddr := ""
	if base != "" {
		if addr, ok, why := buildkittest.Available(t); ok {
			bkAddr = addr
		} else {
			t.Logf("scripts needing buildkitd are skipped: %s", why)
		}
	}
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		Setup: func(env *testscript.Env) error {
			env.Setenv("IMGC_CACHE_DIR", filepath.Join(env.WorkDir, ".imgc-cache"))
			env.Setenv("BASE", base)
			env.Setenv("MULTIBASE", multi)
			env.Setenv("BUILDKIT_ADDR", bkAddr)
			// Every script gets its own in-process registry on loopback.
			reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
			env.Defer(reg.Close)
			env.Setenv("REGISTRY", strings.TrimPrefix(reg.URL, "http://"))
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "buildable":
				// Real builds need root, runc and the busybox base.
				return base != "", nil
			case "emulated":
				// arm64 builds need those and a binfmt_misc handler.
				return multi != "", nil
			case "buildkit":
				return bkAddr != "", nil
			}
			return false, nil
		},
	})
}
