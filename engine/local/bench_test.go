package local_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/imgc-dev/imgc/engine"
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
