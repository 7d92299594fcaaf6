package local_test

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/internal/copyspec"
	"github.com/imgc-dev/imgc/internal/testbase"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// requireRuntime skips unless runc, overlayfs and the busybox base work.
func requireRuntime(t testing.TB) string {
	t.Helper()
	testbase.Require(t)
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("skipping: needs runc on PATH")
	}
	if !overlaySupported() {
		t.Skip("skipping: needs overlayfs (not in /proc/filesystems)")
	}
	return testbase.Busybox(t)
}

func overlaySupported() bool {
	data, err := os.ReadFile("/proc/filesystems")
	return err == nil && strings.Contains(string(data), "overlay")
}

var platform = ir.Platform{OS: "linux", Architecture: runtime.GOARCH}

// busyboxBase is the test base as a plan base.
func busyboxBase(dir string) ir.Base {
	b := imageBase("oci:" + dir + ":latest")
	b.Key, b.Origin = ir.KeyOf([]byte("base "+dir)), ir.Origin{File: "test.image.hcl", Line: 1}
	return b
}

var line int

func origin() ir.Origin {
	line++
	return ir.Origin{File: "test.image.hcl", Line: line}
}

// sh is a shell-form run step.
func sh(script string) *ir.Run {
	return &ir.Run{Argv: []string{"/bin/sh", "-c", script}, Shell: true, Command: script, Network: ir.NetworkNone, Origin: origin()}
}

// layerOf makes a layer of steps; keys are chained by target().
func layerOf(name string, steps ...ir.Step) *ir.Layer {
	var parts []string
	for _, s := range steps {
		switch s := s.(type) {
		case *ir.Run:
			parts = append(parts, "run "+strings.Join(s.Argv, " ")+" "+strings.Join(s.Env, ",")+" "+s.User+" "+s.Workdir)
			for _, m := range s.Mounts {
				parts = append(parts, "mount "+string(m.Type)+" "+m.Target+" "+m.ID)
			}
		case *ir.Copy:
			parts = append(parts, "copy "+strings.Join(s.Sources, ",")+" "+s.Dest+" "+s.FromTarget+" "+s.Chown+" "+s.Chmod)
			for _, f := range s.Files {
				parts = append(parts, f.Src+"="+f.Digest)
			}
		case *ir.Add:
			parts = append(parts, "add "+s.URL+" "+s.Checksum+" "+s.Dest)
		}
	}
	desc := strings.Join(parts, "\n")
	return &ir.Layer{Name: name, Steps: steps, CreatedBy: desc, Inputs: []ir.KeyInput{{Name: "steps", Value: desc}}, Origin: steps[0].Source()}
}

// target chains the layers' keys over base.
func target(name string, base ir.Base, layers ...*ir.Layer) *ir.Target {
	parent := base.Key
	for _, l := range layers {
		l.Parent = parent
		l.Key = ir.KeyOf([]byte(parent.String() + "\x00" + l.Name + "\x00" + l.CreatedBy))
		parent = l.Key
	}
	return &ir.Target{Name: name, Kind: ir.KindImage, Output: true, Base: base, Platform: platform, Layers: layers, Origin: origin()}
}

// contextCopy resolves a copy from ctx as the compiler would.
func contextCopy(t testing.TB, ctx string, sources []string, dest string) *ir.Copy {
	t.Helper()
	files, err := copyspec.Resolve(ctx, sources, dest, copyspec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		if f.Mode.IsRegular() {
			data, err := os.ReadFile(filepath.Join(ctx, f.Src))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			files[i].Digest = "sha256:" + hex.EncodeToString(sum[:])
		}
	}
	return &ir.Copy{Sources: sources, Dest: dest, Context: ctx, Files: files, Origin: origin()}
}

func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// events records progress events.
type events struct {
	mu  sync.Mutex
	all []engine.Event
}

func (e *events) add(ev engine.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

func (e *events) count(kind string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.all {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

// build runs a build with a fresh event log.
func build(t testing.TB, s *store.Store, p *ir.Plan, o engine.BuildOptions) (*engine.Result, *events, error) {
	t.Helper()
	ev := &events{}
	o.Progress = ev.add
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := local.New(s).Build(ctx, p, o)
	return res, ev, err
}

func openStore(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// layoutImage reads name from the OCI layout at dir and validates it.
func layoutImage(t testing.TB, dir, name string) v1.Image {
	t.Helper()
	img := testbase.LayoutImage(t, dir, name)
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate.Image(%s): %v", name, err)
	}
	return img
}

// layerFiles lists the entry names of each layer of img.
func layerFiles(t testing.TB, img v1.Image) [][]string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		var names []string
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, h.Name)
		}
		rc.Close()
		out = append(out, names)
	}
	return out
}

func owner(fi os.FileInfo) (int, int) {
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}

// imageBase is the base for an image reference written as a configuration
// writes it.
func imageBase(ref string) ir.Base {
	return ir.ImageBase(imageref.MustParse(ref))
}
