package local_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/internal/testbase"
	"github.com/imgc-dev/imgc/ir"
)

// busyboxApp is refenv's samples/busybox-app as a plan: COPY src/, RUN,
// COPY motd, RUN.
func busyboxApp(tb testing.TB, base, ctxDir string) *ir.Plan {
	line = 0
	motd := contextCopy(tb, ctxDir, []string{"motd"}, "/etc/motd")
	tg := target("app", busyboxBase(base),
		layerOf("copy src", contextCopy(tb, ctxDir, []string{"src/"}, "/app/src/")),
		layerOf("build", sh("mkdir -p /app/build && cat /app/src/a.sh /app/src/b.sh > /app/build/app && chmod 0755 /app/build/app && sha256sum /app/src/* > /app/build/SUMS")),
		layerOf("motd", motd),
		layerOf("stamp", sh("rm /bin/ls && mkdir -p /var/lib/sample && echo built > /var/lib/sample/stamp")),
	)
	return &ir.Plan{Project: ctxDir, Targets: []*ir.Target{tg}}
}

func busyboxAppContext(tb testing.TB) string {
	dir := tb.TempDir()
	writeFiles(tb, dir, map[string]string{
		"src/a.sh":     "#!/bin/sh\necho a\n",
		"src/b.sh":     "echo b\n",
		"src/data.txt": "data\n",
		"motd":         "welcome\n",
	})
	return dir
}

// BenchmarkBusyboxApp times the refenv baseline cases (cold, warm, edit of
// the first copied file), each exporting an oci-archive as BuildKit's
// baseline does.
func BenchmarkBusyboxApp(b *testing.B) {
	base := requireRuntime(b)
	out := filepath.Join(b.TempDir(), "out.tar")
	opts := engine.BuildOptions{Outputs: []engine.Output{{Type: "oci-archive", Dest: out}}}
	b.Run("cold", func(b *testing.B) {
		ctxDir := busyboxAppContext(b)
		for b.Loop() {
			b.StopTimer()
			s := openStore(b)
			b.StartTimer()
			if _, _, err := build(b, s, busyboxApp(b, base, ctxDir), opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		ctxDir := busyboxAppContext(b)
		s := openStore(b)
		if _, _, err := build(b, s, busyboxApp(b, base, ctxDir), opts); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, _, err := build(b, s, busyboxApp(b, base, ctxDir), opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("edit", func(b *testing.B) {
		ctxDir := busyboxAppContext(b)
		s := openStore(b)
		if _, _, err := build(b, s, busyboxApp(b, base, ctxDir), opts); err != nil {
			b.Fatal(err)
		}
		n := 0
		for b.Loop() {
			b.StopTimer()
			n++
			f, err := os.OpenFile(filepath.Join(ctxDir, "src/a.sh"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			f.WriteString("echo edit\n")
			f.Close()
			p := busyboxApp(b, base, ctxDir)
			b.StartTimer()
			if _, _, err := build(b, s, p, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRunAtDepth times one trivial run step (a cache miss) over a
// chain of depth-1 cached layers that each wrote a file, as the last step
// of a deep Dockerfile rebuilds: the cost of a step should not grow with
// the layers below it.
func BenchmarkRunAtDepth(b *testing.B) {
	base := requireRuntime(b)
	s := openStore(b)
	var chain []*ir.Layer
	for i := range 199 {
		chain = append(chain, layerOf(fmt.Sprintf("l%d", i), sh(fmt.Sprintf("echo %d > /f%d", i, i))))
	}
	// Builds all 199 layers once (with no time limit: that takes minutes on
	// a loaded machine); each depth below reuses a prefix.
	p := &ir.Plan{Project: "depth", Targets: []*ir.Target{target("deep", busyboxBase(base), chain...)}}
	if _, err := local.New(s).Build(context.Background(), p, engine.BuildOptions{}); err != nil {
		b.Fatal(err)
	}
	for _, depth := range []int{1, 50, 200} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			n := 0
			cpu := testbase.CPUTime()
			for b.Loop() {
				n++
				layers := append(append([]*ir.Layer(nil), chain[:depth-1]...), layerOf("top", sh(fmt.Sprintf("true %d", n))))
				p := &ir.Plan{Project: "depth", Targets: []*ir.Target{target("deep", busyboxBase(base), layers...)}}
				if _, _, err := build(b, s, p, engine.BuildOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			// CPU time (imgc's and runc's) says more than the wall time on
			// a loaded machine.
			b.ReportMetric(float64(testbase.CPUTime()-cpu)/1e6/float64(b.N), "cpu-ms/op")
		})
	}
}
