package main

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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
			// And one over HTTPS with a certificate nothing trusts.
			tlsReg := httptest.NewUnstartedServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
			tlsReg.Config.ErrorLog = log.New(io.Discard, "", 0)
			tlsReg.StartTLS()
			env.Defer(tlsReg.Close)
			// And one that wants the user "me" with the password "secret".
			authReg := httptest.NewServer(basicAuth(registry.New(registry.Logger(log.New(io.Discard, "", 0)))))
			env.Defer(authReg.Close)
			env.Setenv("AUTH_REGISTRY", strings.TrimPrefix(authReg.URL, "http://"))
			env.Setenv("TLS_REGISTRY", strings.TrimPrefix(tlsReg.URL, "https://"))
			env.Setenv("DOCKER_CONFIG", filepath.Join(env.WorkDir, ".docker"))
			env.Setenv("IMGC_CONFIG", "")
			env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, ".config"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"freeport":  cmdFreeport,
			"tcpread":   cmdTCPRead,
			"httpserve": cmdHTTPServe,
			"gitserve":  cmdGitServe,
			"gobuild":   cmdGoBuild,
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

// basicAuth lets through only requests with the user "me" and the
// password "secret", as a registry with basic authentication does.
func basicAuth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "me" || p != "secret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// cmdFreeport sets the variable args[0] to a free TCP port of 127.0.0.1.
func cmdFreeport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	ts.Setenv(args[0], strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	l.Close()
}

// cmdTCPRead connects to args[0] until it reads something (a published
// port accepts before the container listens), for up to 2 minutes (a hang
// guard), and writes
// what it read to stdout. With !, it expects no connection to give data
// within 3s.
func cmdTCPRead(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: tcpread HOST:PORT")
	}
	limit := 2 * time.Minute
	if neg {
		limit = 3 * time.Second
	}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", args[0], time.Second)
		if err == nil {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			b, _ := io.ReadAll(c)
			c.Close()
			if len(b) > 0 {
				if neg {
					ts.Fatalf("read %q from %s", b, args[0])
				}
				ts.Stdout().Write(b)
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !neg {
		ts.Fatalf("nothing read from %s in %s", args[0], limit)
	}
}
