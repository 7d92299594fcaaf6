package integration

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/imgc-dev/imgc/compiler"
	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/internal/testbase"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/store"
)

// TestOptimizerKeepsImages is the optimizer's property test: for generated
// step sequences over the busybox base (copies to overlapping and disjoint
// destinations, with and without chown; runs that declare their reads and
// writes and runs that declare nothing; layer blocks), the images built at
// --optimize none, safe and all have the same files (type, mode, owner,
// size, content, link target) and the same config. It also fails when the
// sequences gave the all-level passes nothing to do, so it cannot pass
// vacuously.
func TestOptimizerKeepsImages(t *testing.T) {
	base := requireBuilds(t)
	sequences := 20
	if testing.Short() {
		sequences = 6
	}
	applied := map[string]int{}
	unbuildable := 0
	for seed := 1; seed <= sequences; seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			dir := writeSequence(t, base, rand.New(rand.NewSource(int64(seed))))
			var trees []map[string]entry
			var configs []v1.Config
			for _, level := range []string{compiler.LevelNone, compiler.LevelSafe, compiler.LevelAll} {
				plan := compileLevel(t, dir, level)
				img, err := buildPlan(t, plan)
				switch {
				case err != nil && level == compiler.LevelNone:
					// A run that creates its undeclared working directory
					// fails the runtime's writes check: nothing to compare.
					t.Logf("the sequence does not build as written: %v", err)
					unbuildable++
					return
				case err != nil:
					t.Fatalf("building at --optimize=%s, where --no-optimize builds: %v\n%s", level, err, planText(plan))
				}
				if level == compiler.LevelAll {
					for _, o := range plan.Optimizations {
						if o.Applied {
							applied[o.Pass]++
						}
					}
				}
				trees = append(trees, fileTree(t, img))
				cf, err := img.ConfigFile()
				if err != nil {
					t.Fatal(err)
				}
				configs = append(configs, cf.Config)
			}
			for i, level := range []string{"safe", "all"} {
				if diff := cmp.Diff(trees[0], trees[i+1]); diff != "" {
					src, _ := os.ReadFile(filepath.Join(dir, "app.image.hcl"))
					t.Errorf("files at --optimize=%s differ from --no-optimize (-none +%s):\n%s\nconfiguration:\n%s", level, level, diff, src)
				}
				if diff := cmp.Diff(configs[0], configs[i+1]); diff != "" {
					t.Errorf("config at --optimize=%s differs from --no-optimize (-none +%s):\n%s", level, level, diff)
				}
			}
		})
	}
	if unbuildable > sequences/4 {
		t.Errorf("%d of %d sequences do not build as written: too few left to compare", unbuildable, sequences)
	}
	for _, pass := range []string{"reorder", "merge", "mergecopy"} {
		if applied[pass] == 0 {
			t.Errorf("no sequence gave the %s pass anything to do: the property was not tested for it (applied: %v)", pass, applied)
		}
	}
	t.Logf("passes applied at all over %d sequences: %v", sequences, applied)
}

// requireBuilds skips unless builds can run here, and returns the busybox
// base layout.
func requireBuilds(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: building images needs root (runc and overlayfs)")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("skipping: needs runc on PATH")
	}
	if data, err := os.ReadFile("/proc/filesystems"); err != nil || !strings.Contains(string(data), "overlay") {
		t.Skip("skipping: needs overlayfs")
	}
	return testbase.Busybox(t)
}

// writeSequence writes a build context and an app.image.hcl of 6 to 10
// random steps, and returns the directory.
func writeSequence(t *testing.T, base string, r *rand.Rand) string {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"a.txt": "alpha\n", "b.txt": "beta\n", "c.txt": "gamma\n",
		"d/one.txt": "one\n", "d/two.txt": "two\n", "d/sub/three.txt": "three\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "image \"app\" {\n  from = %q\n", "oci:"+base+":latest")
	// With a stage workdir, declared runs either declare it among their
	// writes (a run creates it when it is missing) or count on a copy to
	// /app/ before them; moved before that copy, they would create it.
	workdir := r.Intn(3) == 0
	declareWorkdir := workdir && r.Intn(2) == 0
	if workdir {
		b.WriteString("  workdir = \"/app\"\n")
		if !declareWorkdir {
			b.WriteString("  copy {\n    src  = \"c.txt\"\n    dest = \"/app/\"\n  }\n")
		}
	}
	n := 6 + r.Intn(5)
	for i := 0; i < n; i++ {
		b.WriteString(randomStep(r, i, declareWorkdir))
	}
	b.WriteString("  config {\n    labels = { seq = \"x\" }\n    cmd = [\"sh\"]\n  }\n}\n")
	if err := os.WriteFile(filepath.Join(dir, "app.image.hcl"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

var (
	copySources = []string{`"a.txt"`, `"b.txt"`, `["a.txt", "c.txt"]`, `"d/"`, `"d/sub/"`}
	copyDests   = []string{"/app/", "/app/sub/", "/app/sub/", "/data/", "/opt/share/", "/app/a.txt", "/srv/b.txt", "/out/c/"}
	// runs pairs commands with what they declare (reads; writes); the
	// declarations are true, as the language requires.
	declaredRuns = []struct{ sh, reads, writes string }{
		{"mkdir -p /out && cat /app/a.txt > /out/r1 2>/dev/null || echo none > /out/r1", `["/app/a.txt"]`, `["/out/r1"]`},
		{"mkdir -p /opt/tool && echo v1 > /opt/tool/version", `[]`, `["/opt/tool"]`},
		{"mkdir -p /w && (ls /app 2>/dev/null || echo no app) > /w/list", `["/app"]`, `["/w"]`},
		{"mkdir -p /srv && echo srv > /srv/note", `[]`, `["/srv/note"]`},
		{"mkdir -p /data/gen && echo gen > /data/gen/file", `[]`, `["/data/gen"]`},
		{"mkdir -p /tool && ln -sf /opt/tool/version /tool/current", `[]`, `["/tool"]`},
		{"cat /srv/b.txt > /out2 2>/dev/null || echo none > /out2", `["/srv/b.txt"]`, `["/out2"]`},
		{"mkdir -p /d && (ls /data 2>/dev/null || echo none) > /d/list", `["/data"]`, `["/d"]`},
		{"mkdir -p /e && (cat /app/sub/* 2>/dev/null || echo none) > /e/sub", `["/app/sub"]`, `["/e"]`},
		{"mkdir -p /app/sub && echo gen > /app/sub/gen.txt", `[]`, `["/app/sub/gen.txt"]`},
		{"mkdir -p /opt/share && chmod 0700 /opt/share && echo x > /opt/share/x", `[]`, `["/opt/share"]`},
	}
	plainRuns = []string{
		"echo a >> /log",
		"echo b >> /log",
		"mkdir -p /app && ls /app > /app.list",
		"rm -f /app/a.txt",
		"chmod 0700 /data 2>/dev/null || true",
		"echo c >> /log && touch /scratch && rm /scratch",
	}
)

// randomStep writes one step; with declareWorkdir, declared runs list the
// stage workdir /app among their writes. A copy is
// often followed by a declared run that reads or writes next to what it
// copied, so that moving the run across it would change the image.
func randomStep(r *rand.Rand, i int, declareWorkdir bool) string {
	declare := func(sh, reads, writes string) string {
		if declareWorkdir {
			writes = strings.Replace(writes, "[", `["/app", `, 1)
		}
		return fmt.Sprintf("  run {\n    sh     = %q\n    reads  = %s\n    writes = %s\n  }\n", sh, reads, writes)
	}
	switch k := r.Intn(10); {
	case k < 4:
		extra := ""
		switch r.Intn(4) {
		case 0:
			extra = "    chown = \"1000:1000\"\n"
		case 1:
			extra = "    chmod = \"0600\"\n"
		}
		src := pick(r, copySources)
		dest := copyDestFor(r, src)
		step := fmt.Sprintf("  copy {\n    src  = %s\n    dest = %q\n%s  }\n", src, dest, extra)
		d := strings.TrimSuffix(dest, "/")
		switch r.Intn(3) {
		case 0: // reads what the copy wrote: must stay after it
			step += declare(fmt.Sprintf("mkdir -p /r%d && (ls -R %s; cat %s %s/* 2>/dev/null) > /r%d/out 2>&1 || true", i, d, d, d, i), fmt.Sprintf("[%q]", d), fmt.Sprintf(`["/r%d"]`, i))
		case 1: // writes beside it: shares its parent directory
			step += declare(fmt.Sprintf("mkdir -p %s && echo gen > %s/gen%d", path.Dir(d), path.Dir(d), i), "[]", fmt.Sprintf("[%q]", fmt.Sprintf("%s/gen%d", path.Dir(d), i)))
		}
		return step
	case k < 7:
		d := declaredRuns[r.Intn(len(declaredRuns))]
		return declare(d.sh, d.reads, d.writes)
	case k < 9:
		return fmt.Sprintf("  run {\n    sh = %q\n  }\n", pick(r, plainRuns))
	default:
		return fmt.Sprintf("  layer \"l%d\" {\n    copy {\n      src  = \"b.txt\"\n      dest = \"/layer%d/\"\n    }\n    run {\n      sh = \"cat /layer%d/b.txt >> /log\"\n    }\n  }\n", i, i, i)
	}
}

// copyDestFor picks a destination for src: a directory for several
// sources or a directory source.
func copyDestFor(r *rand.Rand, src string) string {
	for {
		d := pick(r, copyDests)
		if strings.HasSuffix(d, "/") || !(strings.HasPrefix(src, "[") || strings.HasSuffix(src, "/\"")) {
			return d
		}
	}
}

func pick(r *rand.Rand, from []string) string { return from[r.Intn(len(from))] }

func compileLevel(t *testing.T, dir, level string) *ir.Plan {
	t.Helper()
	cfg, diags := lang.Load(filepath.Join(dir, "app.image.hcl"), lang.Options{})
	if diags.HasErrors() {
		t.Fatalf("loading: %s", diags.Error())
	}
	plan, diags := compiler.Compile(cfg, compiler.Options{Optimize: level})
	if diags.HasErrors() {
		t.Fatalf("compiling at %s: %s", level, diags.Error())
	}
	return plan
}

// buildPlan builds p with a cache of its own and returns the output image.
func buildPlan(t *testing.T, p *ir.Plan) (v1.Image, error) {
	t.Helper()
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "oci")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := local.New(s).Build(ctx, p, engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}}); err != nil {
		return nil, err
	}
	return testbase.LayoutImage(t, out, "app"), nil
}

// entry is what the property compares of one file: everything but times.
type entry struct {
	Type   byte
	Mode   int64
	UID    int
	GID    int
	Size   int64
	Digest string
	Link   string
}

// fileTree flattens img's layers (whiteouts applied) into its files.
func fileTree(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := map[string]entry{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		e := entry{Type: h.Typeflag, Mode: h.Mode, UID: h.Uid, GID: h.Gid, Size: h.Size, Link: h.Linkname}
		if h.Typeflag == tar.TypeReg {
			sum := sha256.New()
			if _, err := io.Copy(sum, tr); err != nil {
				t.Fatal(err)
			}
			e.Digest = hex.EncodeToString(sum.Sum(nil))
		}
		out[filepath.Clean("/"+h.Name)] = e
	}
	return out
}

func planText(p *ir.Plan) string {
	var b strings.Builder
	ir.PrintText(&b, p, nil, false)
	return b.String()
}

// TestEditingAMergedStep edits the third of four run steps that
// --optimize=all merges into one layer, and checks that the rebuild reuses
// the cached steps before it and re-runs exactly the steps an unmerged
// build re-runs (the edited one and those after it, whose input changed),
// then re-packs the merged layer; the images match the unmerged build's.
// It logs the rebuild times BENCHMARKS.md quotes.
func TestEditingAMergedStep(t *testing.T) {
	base := requireBuilds(t)
	dir := t.TempDir()
	work := "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done"
	src := fmt.Sprintf(`variable "v" {
  default = "one"
}

image "app" {
  from = %q
  run {
    sh = "%s; mkdir -p /gen && seq 1 2000 > /gen/s1"
  }
  run {
    sh = "%s; seq 1 3000 > /gen/s2"
  }
  run {
    sh = "%s; echo ${var.v} > /gen/s3"
  }
  run {
    sh = "%s; cat /gen/* | wc -l > /gen/count"
  }
}
`, "oci:"+base+":latest", work, work, work, work)
	if err := os.WriteFile(filepath.Join(dir, "app.image.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	compile := func(level, v string) *ir.Plan {
		cfg, diags := lang.Load(filepath.Join(dir, "app.image.hcl"), lang.Options{Vars: lang.FlagVars(map[string]string{"v": v})})
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		p, diags := compiler.Compile(cfg, compiler.Options{Optimize: level})
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		return p
	}
	trees := map[string]map[string]entry{}
	for _, level := range []string{compiler.LevelSafe, compiler.LevelAll} {
		s, err := store.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		first := compile(level, "one")
		if n := len(first.Targets[0].Layers); (level == compiler.LevelAll) != (n == 1) {
			t.Fatalf("at %s the plan has %d layers", level, n)
		}
		start := time.Now()
		buildEvents(t, s, first)
		initial := time.Since(start)
		edited := compile(level, "two")
		out := filepath.Join(t.TempDir(), "oci")
		start = time.Now()
		events := buildEvents(t, s, edited, engine.Output{Type: "oci", Dest: out})
		rebuild := time.Since(start)
		var ran, reused []string
		for _, ev := range events {
			switch ev.Kind {
			case "start":
				ran = append(ran, ev.Layer)
			case "cached":
				reused = append(reused, ev.Layer)
			}
		}
		t.Logf("--optimize=%s: first build %v, rebuild after editing step 3 of 4: %v; ran %q, reused %q", level, initial.Round(time.Millisecond), rebuild.Round(time.Millisecond), ran, reused)
		runSteps := 0
		for _, name := range ran {
			if strings.Contains(name, "(step ") || level == compiler.LevelSafe {
				runSteps++
			}
		}
		if runSteps != 2 || len(reused) < 2 {
			t.Errorf("--optimize=%s: the rebuild ran %q and reused %q; want steps 3 and 4 run, 1 and 2 reused", level, ran, reused)
		}
		trees[level] = fileTree(t, testbase.LayoutImage(t, out, "app"))
	}
	if diff := cmp.Diff(trees[compiler.LevelSafe], trees[compiler.LevelAll]); diff != "" {
		t.Errorf("the merged rebuild's files differ from the unmerged one's (-safe +all):\n%s", diff)
	}
}

func buildEvents(t *testing.T, s *store.Store, p *ir.Plan, outputs ...engine.Output) []engine.Event {
	t.Helper()
	var events []engine.Event
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := local.New(s).Build(ctx, p, engine.BuildOptions{Outputs: outputs, Progress: func(e engine.Event) { events = append(events, e) }}); err != nil {
		t.Fatalf("building: %v", err)
	}
	return events
}

// TestPlanNamesEmptyLayers: a step whose diff was empty is left out of the
// image, and the plan of the next build says so from the store.
func TestPlanNamesEmptyLayers(t *testing.T) {
	base := requireBuilds(t)
	dir := t.TempDir()
	src := fmt.Sprintf("image \"app\" {\n  from = %q\n  run {\n    sh = \"echo hi > /hi\"\n  }\n  run {\n    sh = \"test -f /hi\"\n  }\n}\n", "oci:"+base+":latest")
	if err := os.WriteFile(filepath.Join(dir, "app.image.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	p := compileLevel(t, dir, compiler.LevelSafe)
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	buildEvents(t, s, p)
	st := local.New(s).Explain(p)
	layers := p.Targets[0].Layers
	if got := st[layers[0].Key]; !got.Hit || got.Empty {
		t.Errorf("the layer writing /hi: status %+v, want a hit that is not empty", got)
	}
	if got := st[layers[1].Key]; !got.Hit || !got.Empty {
		t.Errorf("the layer that only tests /hi: status %+v, want an empty hit", got)
	}
	var b strings.Builder
	ir.PrintText(&b, p, st, false)
	if !strings.Contains(b.String(), "empty: not in the image") {
		t.Errorf("plan does not name the empty layer:\n%s", b.String())
	}
}

// TestPlanExplainsAnotherLayering: after a build at all, the plan at safe
// finds the merged copies' per-step entries, and says the layer after them
// misses because its parent changed, not because the base did.
func TestPlanExplainsAnotherLayering(t *testing.T) {
	base := requireBuilds(t)
	dir := t.TempDir()
	for name, content := range map[string]string{"a.txt": "a\n", "b.txt": "b\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src := fmt.Sprintf("image \"app\" {\n  from = %q\n  copy {\n    src  = \"a.txt\"\n    dest = \"/a/\"\n  }\n  copy {\n    src  = \"b.txt\"\n    dest = \"/b/\"\n  }\n  run {\n    sh = \"cat /a/a.txt /b/b.txt > /ab\"\n  }\n}\n", "oci:"+base+":latest")
	if err := os.WriteFile(filepath.Join(dir, "app.image.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	buildEvents(t, s, compileLevel(t, dir, compiler.LevelAll))
	safe := compileLevel(t, dir, compiler.LevelSafe)
	st := local.New(s).Explain(safe)
	layers := safe.Targets[0].Layers
	for i, want := range []ir.Status{{Hit: true}, {Hit: true}, {Reason: "parent layer rebuilt"}} {
		if got := st[layers[i].Key]; got != want {
			t.Errorf("layer %d (%s): status %+v, want %+v", i+1, layers[i].Name, got, want)
		}
	}
}
