package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

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
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		Setup: func(env *testscript.Env) error {
			env.Setenv("IMGC_CACHE_DIR", filepath.Join(env.WorkDir, ".imgc-cache"))
			env.Setenv("BASE", base)
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "buildable":
				// Real builds need root, runc and the busybox base.
				return base != "", nil
			}
			return false, nil
		},
	})
}
