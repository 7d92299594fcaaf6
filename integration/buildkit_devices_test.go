package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/buildkit"
	"github.com/imgc-dev/imgc/internal/buildkittest"
	"github.com/imgc-dev/imgc/internal/testbase"
	"github.com/imgc-dev/imgc/ir"
)

// cdiSpec is a CDI spec of one device with a node (the host's /dev/zero,
// major 1 minor 5, at another path), a variable of the spec and one of the
// device, and a read-only bind mount of mountDir.
func cdiSpec(mountDir string) string {
	return `cdiVersion: "0.6.0"
kind: "imgc.test/gpu"
containerEdits:
  env: ["SPEC_LEVEL=1"]
devices:
  - name: "0"
    containerEdits:
      env: ["VENDOR_GPU=zero"]
      deviceNodes:
        - path: /dev/imgc-gpu0
          hostPath: /dev/zero
      mounts:
        - hostPath: ` + mountDir + `
          containerPath: /opt/vendor
          options: ["ro", "bind"]
`
}

// A run step's CDI devices, given by a daemon that reads the same spec
// directory as the local engine (buildkitd --cdi-spec-dir), make the same
// layers on both engines: the node, the variables and the mount are there
// while the step runs, and runc's mount point stays in both layers. A
// required device the daemon lacks fails the build.
func TestBuildKitDevices(t *testing.T) {
	testbase.Require(t)
	buildkittest.Require(t) // skips where no daemon can run
	base := testbase.Busybox(t)
	specDir, mountDir := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(mountDir, "file"), []byte("vendor-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(specDir, "imgc-test.yaml"), []byte(cdiSpec(mountDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, "--cdi-spec-dir", specDir)
	p := onBase(t, base, `
  run {
    sh = "echo $VENDOR_GPU $SPEC_LEVEL $(stat -c '%t %T' /dev/imgc-gpu0) $(cat /opt/vendor/file) > /out"
    device "imgc.test/gpu=0" { required = true }
    device "imgc.test/gpu=9" {}
  }
`)
	first := p
	o := engine.BuildOptions{SourceDateEpoch: &epoch, CDISpecDirs: []string{specDir}, Devices: engine.DeviceGrant{All: true}}
	loc, bk := both(t, d.Addr, p, o)
	compareLayers(t, loc, bk)
	sum := sha256.Sum256([]byte("zero 1 1 5 vendor-file\n"))
	want := hex.EncodeToString(sum[:])
	for name, b := range map[string]*built{"local": loc, "buildkit": bk} {
		files := fileTree(t, b.image(t))
		if got := files["/out"].Digest; got != want {
			t.Errorf("%s: /out has digest %s, want that of %q", name, got, "zero 1 1 5 vendor-file\n")
		}
		if _, ok := files["/opt/vendor"]; !ok {
			t.Errorf("%s: the device's mount point /opt/vendor is not in the image, as BuildKit leaves it", name)
		}
	}

	missing := writeProject(t, map[string]string{"app.image.hcl": `
variable "base" {
  type = string
}

image "app" {
  from = var.base
  run {
    sh = "true"
    device "imgc.test/gpu=7" { required = true }
  }
}
`})
	p = compileHCL(t, missing, map[string]string{"base": "oci:" + base + ":latest"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := buildkit.New(newStore(t), buildkit.Options{Addr: d.Addr}).Build(ctx, p, o)
	var se *engine.StepError
	if !errors.As(err, &se) || len(se.Origins) != 1 || se.Origins[0].Line != 8 || !strings.Contains(err.Error(), "imgc.test/gpu=7") {
		t.Errorf("a required device the daemon lacks: error %v, want a StepError at line 8 naming it", err)
	}

	// Without the entitlement, the daemon refuses the device.
	_, err = buildkit.New(newStore(t), buildkit.Options{Addr: d.Addr}).Build(ctx, first, engine.BuildOptions{CDISpecDirs: []string{specDir}})
	var be *buildkit.BuilderError
	if !errors.As(err, &be) || !strings.Contains(be.Detail, "--allow device") || !strings.Contains(be.Detail, "imgc.test/gpu=0") {
		t.Errorf("a device not granted: error %v, want a BuilderError saying to pass --allow device", err)
	}
}

// A daemon that dies while it builds is the builder's failure, not the
// step's: a *buildkit.BuilderError saying the connection was lost, with no
// step's source line, so that CI retries it as infrastructure.
func TestBuildKitDaemonLostMidBuild(t *testing.T) {
	testbase.Require(t)
	buildkittest.Require(t) // skips where no daemon can run
	base := testbase.Busybox(t)
	d := startDaemon(t)
	p := onBase(t, base, `
  run {
    sh = "echo started-`+strings.ReplaceAll(t.Name(), "/", "-")+` && sleep 60"
  }
`)
	started := make(chan struct{})
	var once sync.Once
	o := engine.BuildOptions{Progress: func(ev engine.Event) {
		if strings.Contains(ev.Line, "started-") {
			once.Do(func() { close(started) })
		}
	}}
	done := make(chan error, 1)
	go func() {
		_, err := buildkit.New(newStore(t), buildkit.Options{Addr: d.Addr}).Build(context.Background(), p, o)
		done <- err
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("the build ended before its step started: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("the step did not start in 2 minutes")
	}
	d.Kill()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the build did not end in 2 minutes after the daemon was killed")
	}
	var be *buildkit.BuilderError
	if !errors.As(err, &be) || !strings.Contains(be.Summary, "lost the connection") {
		t.Fatalf("Build = %v (%T), want a BuilderError saying the connection was lost", err, err)
	}
	var se *engine.StepError
	if errors.As(err, &se) {
		t.Errorf("Build = %v: a StepError, blaming the step", err)
	}
}

// startDaemon starts a buildkitd of the test's own (extra are more
// buildkitd flags), stopped when the test ends.
func startDaemon(t *testing.T, extra ...string) *buildkittest.Daemon {
	t.Helper()
	d, err := buildkittest.Start(extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	return d
}

// onBase compiles an image "app" on the busybox layout base whose block
// holds body.
func onBase(t *testing.T, base, body string) *ir.Plan {
	t.Helper()
	dir := writeProject(t, map[string]string{"app.image.hcl": "variable \"base\" {\n  type = string\n}\n\nimage \"app\" {\n  from = var.base\n" + body + "}\n"})
	return compileHCL(t, dir, map[string]string{"base": "oci:" + base + ":latest"})
}
