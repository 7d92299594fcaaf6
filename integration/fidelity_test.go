package integration

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/internal/testbase"
	"github.com/imgc-dev/imgc/store"
)

// TestFidelity builds every Dockerfile of testdata/fidelity/<case>/ with
// imgc and with buildah (the reference builder), on the same busybox base,
// and requires the same filesystem (type, mode, owner, size, content, link
// target; not times) and the same image config as Docker defines it.
//
// A case directory is the build context: a Dockerfile whose first line is
// `ARG BASE` and `FROM $BASE` (or a stage based on it), context files, and an
// optional `args` file of NAME=VALUE build arguments, one a line, and an
// optional `base-onbuild` file of ONBUILD triggers, `base-env` file of
// NAME=VALUE variables, one a line, and `base-workdir` file (its working
// directory), to put in the base image's config. Where
// buildah 1.28 cannot build a case as Docker would, the case says so:
// Dockerfile.reference is what buildah builds instead (the same build in
// syntax it knows), and docker-differs.json gives the config fields and
// paths where buildah's result is not Docker's, with the reason (each was
// checked against BuildKit). A `modes` file of "MODE PATH" lines sets
// context modes git cannot keep. A `contexts` file of NAME=DIR lines (DIR
// relative to the case) gives named contexts (--build-context). imgc-gaps.json lists
// what imgc is known not to make as Docker does (see docs/dockerfile-testing.md).
func TestFidelity(t *testing.T) {
	testbase.Require(t)
	for _, tool := range []string{"buildah", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: the fidelity test needs %s (Debian packages buildah and runc): %v", tool, err)
		}
	}
	cases, err := filepath.Glob(filepath.Join("testdata", "fidelity", "*", "Dockerfile"))
	if err != nil || len(cases) == 0 {
		t.Fatalf("no fidelity cases: %v", err)
	}
	base := testbase.Busybox(t)
	ref := newBuildah(t)
	bk := buildKitFromEnv(t)
	cache := t.TempDir()
	for _, df := range cases {
		dir := filepath.Dir(df)
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			args := readArgs(t, filepath.Join(dir, "args"))
			serveRemotes(t, dir, args)
			dir := contextWithModes(t, dir)
			base := base
			triggers := readLines(t, filepath.Join(dir, "base-onbuild"))
			env := readLines(t, filepath.Join(dir, "base-env"))
			wd := readLines(t, filepath.Join(dir, "base-workdir"))
			if len(triggers) > 0 || len(env) > 0 || len(wd) > 0 {
				base = baseWith(t, base, triggers, env, wd)
			}
			imgcImg := buildWithImgc(t, cache, dir, base, args)
			refImg := ref.build(t, name, dir, base, args)
			want, got := imageTree(t, refImg), imageTree(t, imgcImg)
			dropRunArtifacts(want, got)
			wantCfg := dockerConfig(t, refImg)
			applyDockerDiffers(t, filepath.Join(dir, "docker-differs.json"), want, &wantCfg)
			applyImgcGaps(t, filepath.Join(dir, "imgc-gaps.json"), want, got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("filesystem differs (-buildah +imgc):\n%s", diff)
			}
			if diff := cmp.Diff(wantCfg, dockerConfig(t, imgcImg)); diff != "" {
				t.Errorf("image config differs (-buildah +imgc):\n%s", diff)
			}
			if bk == nil {
				return
			}
			bkImg := bk.build(t, dir, base, args)
			want, got = imageTree(t, bkImg), imageTree(t, imgcImg)
			bkCfg := dockerConfig(t, bkImg)
			applyDockerDiffers(t, filepath.Join(dir, "buildkit-differs.json"), want, &bkCfg)
			applyImgcGaps(t, filepath.Join(dir, "imgc-gaps.json"), want, got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("filesystem differs (-buildkit +imgc):\n%s", diff)
			}
			if diff := cmp.Diff(bkCfg, dockerConfig(t, imgcImg)); diff != "" {
				t.Errorf("image config differs (-buildkit +imgc):\n%s", diff)
			}
		})
	}
}

// buildKit is an optional second reference: BuildKit's own Dockerfile
// frontend, which is what `docker build` runs. It needs a running buildkitd
// (see /work/shared/refenv/buildkit.sh), so CI does not use it; set
// IMGC_FIDELITY_BUILDKIT to its address (unix:///...) and have buildctl on
// PATH or in IMGC_FIDELITY_BUILDCTL. It builds heredocs as they are, and
// its allowances are the case's imgc-gaps.json and buildkit-differs.json
// (docker-differs.json's format: where imgc deliberately follows the
// classic builder and buildah instead of a BuildKit quirk).
type buildKit struct {
	addr, buildctl string
}

func buildKitFromEnv(t *testing.T) *buildKit {
	addr := os.Getenv("IMGC_FIDELITY_BUILDKIT")
	if addr == "" {
		return nil
	}
	ctl := os.Getenv("IMGC_FIDELITY_BUILDCTL")
	if ctl == "" {
		var err error
		if ctl, err = exec.LookPath("buildctl"); err != nil {
			t.Fatalf("IMGC_FIDELITY_BUILDKIT is set but buildctl is not on PATH: %v", err)
		}
	}
	return &buildKit{addr: addr, buildctl: ctl}
}

func (b *buildKit) build(t *testing.T, dir, base string, args map[string]string) v1.Image {
	t.Helper()
	img := testbase.LayoutImage(t, base, "latest")
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	archive := filepath.Join(out, "image.tar")
	cmd := []string{"--addr", b.addr, "build", "--frontend", "dockerfile.v0",
		"--local", "context=" + dir, "--local", "dockerfile=" + dir,
		"--oci-layout", "base=" + base, "--opt", "build-arg:BASE=base",
		"--opt", "context:base=oci-layout://base@" + digest.String(),
		"--output", "type=oci,dest=" + archive + ",name=fidelity:latest"}
	for _, k := range sortedNames(args) {
		cmd = append(cmd, "--opt", "build-arg:"+k+"="+args[k])
	}
	contexts := caseContexts(t, dir)
	for _, k := range sortedNames(contexts) {
		cmd = append(cmd, "--local", "named-"+k+"="+contexts[k], "--opt", "context:"+k+"=local:named-"+k)
	}
	if out, err := exec.Command(b.buildctl, cmd...).CombinedOutput(); err != nil {
		t.Fatalf("buildctl build: %v\n%s", err, out)
	}
	layoutDir := filepath.Join(out, "layout")
	if err := os.Mkdir(layoutDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "-xf", archive, "-C", layoutDir).CombinedOutput(); err != nil {
		t.Fatalf("unpacking BuildKit's image: %v\n%s", err, out)
	}
	return testbase.LayoutImage(t, layoutDir, "latest")
}

// contextWithModes copies the case to a new directory and applies its
// `modes` file (lines of "MODE PATH"), since git keeps neither directory
// modes nor file modes other than 0644 and 0755.
func contextWithModes(t *testing.T, dir string) string {
	t.Helper()
	lines := readLines(t, filepath.Join(dir, "modes"))
	if len(lines) == 0 {
		return dir
	}
	tmp := t.TempDir()
	if out, err := exec.Command("cp", "-a", dir+"/.", tmp).CombinedOutput(); err != nil {
		t.Fatalf("copying the case: %v\n%s", err, out)
	}
	for _, l := range lines {
		mode, p, ok := strings.Cut(strings.TrimSpace(l), " ")
		m, err := strconv.ParseUint(mode, 8, 32)
		if !ok || err != nil {
			t.Fatalf("%s/modes: %q is not MODE PATH", dir, l)
		}
		if err := os.Chmod(filepath.Join(tmp, p), os.FileMode(m)); err != nil {
			t.Fatal(err)
		}
	}
	return tmp
}

// readLines reads the non-empty lines of a file; a missing file has none.
// caseContexts reads a case's `contexts` file, lines of NAME=DIR with DIR
// relative to the case: its named contexts (--build-context NAME=DIR).
func caseContexts(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range readLines(t, filepath.Join(dir, "contexts")) {
		name, rel, _ := strings.Cut(strings.TrimSpace(l), "=")
		out[name] = filepath.Join(dir, rel)
	}
	return out
}

func readLines(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// baseWith writes the busybox base with ONBUILD triggers and extra
// environment variables in its config to a new OCI layout (tag latest) and
// returns its path.
func baseWith(t *testing.T, busybox string, triggers, env, workdir []string) string {
	t.Helper()
	img := testbase.LayoutImage(t, busybox, "latest")
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config.OnBuild = triggers
	cf.Config.Env = append(cf.Config.Env, env...)
	if len(workdir) > 0 {
		cf.Config.WorkingDir = workdir[0]
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	// buildah names the image after the path, which must be lower case.
	dir, err := os.MkdirTemp("", "imgc-fidelity-base-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "latest"})); err != nil {
		t.Fatal(err)
	}
	return dir
}

// readArgs reads a case's build arguments; a missing file means none.
func readArgs(t *testing.T, file string) map[string]string {
	t.Helper()
	args := map[string]string{}
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return args
	}
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not NAME=VALUE", file, line)
		}
		args[k] = v
	}
	return args
}

// buildWithImgc imports, compiles and builds the case's Dockerfile in
// process, as `imgc build` does, and returns the image from the store.
func buildWithImgc(t *testing.T, cache, dir, base string, args map[string]string) v1.Image {
	t.Helper()
	plan, abs := dockerfilePlan(t, dir, base, args)
	store, err := store.Open(cache)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var logs []string
	res, err := local.New(store).Build(ctx, plan, engine.BuildOptions{Context: abs, Progress: func(e engine.Event) {
		if e.Kind == "log" {
			logs = append(logs, e.Line)
		}
	}})
	if err != nil {
		t.Fatalf("imgc build: %v\n%s", err, strings.Join(logs, "\n"))
	}
	if len(res.Images) != 1 {
		t.Fatalf("imgc built %d images, want 1", len(res.Images))
	}
	h, err := v1.NewHash(res.Images[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	img, err := layout.Path(filepath.Join(cache, "oci")).Image(h)
	if err != nil {
		t.Fatalf("reading the imgc image: %v", err)
	}
	return img
}

// buildah runs the reference builder with storage of its own, so the test
// neither sees nor touches the machine's images.
type buildah struct {
	root, runroot string
	out           string
}

func newBuildah(t *testing.T) *buildah {
	t.Helper()
	tmp, err := os.MkdirTemp("", "imgc-fidelity-buildah-")
	if err != nil {
		t.Fatal(err)
	}
	b := &buildah{root: filepath.Join(tmp, "root"), runroot: filepath.Join(tmp, "runroot"), out: filepath.Join(tmp, "out")}
	if err := os.MkdirAll(b.out, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Removing the images unmounts buildah's layers before the files go.
		b.run(t, "rmi", "--all", "--force")
		if err := os.RemoveAll(tmp); err != nil {
			t.Errorf("removing buildah's storage: %v", err)
		}
	})
	return b
}

func (b *buildah) run(t *testing.T, args ...string) string {
	t.Helper()
	all := append([]string{"--root", b.root, "--runroot", b.runroot, "--storage-driver", "overlay"}, args...)
	cmd := exec.Command("buildah", all...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("buildah %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// build builds the case with `buildah build` in Docker format (the OCI
// format has no HEALTHCHECK, ONBUILD or SHELL) and reads the image back
// from a docker-archive.
func (b *buildah) build(t *testing.T, name, dir, base string, args map[string]string) v1.Image {
	t.Helper()
	tag := "localhost/imgc-fidelity-" + name + ":latest"
	df := filepath.Join(dir, "Dockerfile")
	if _, err := os.Stat(df + ".reference"); err == nil {
		df += ".reference"
	}
	cmd := []string{"build", "--runtime", "runc", "--layers=false", "--network", "none",
		"--format", "docker", "--identity-label=false",
		"-f", df, "--build-arg", "BASE=oci:" + base + ":latest", "-t", tag}
	for _, k := range sortedNames(args) {
		cmd = append(cmd, "--build-arg", k+"="+args[k])
	}
	contexts := caseContexts(t, dir)
	for _, k := range sortedNames(contexts) {
		cmd = append(cmd, "--build-context", k+"="+contexts[k])
	}
	b.run(t, append(cmd, dir)...)
	archive := filepath.Join(b.out, name+".tar")
	b.run(t, "push", tag, "docker-archive:"+archive+":"+tag)
	img, err := tarball.ImageFromPath(archive, nil)
	if err != nil {
		t.Fatalf("reading buildah's image: %v", err)
	}
	return img
}

func sortedNames(m map[string]string) []string {
	var names []string
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// dropRunArtifacts removes from buildah's tree the mount points its RUN
// leaves behind and that Docker never commits: an empty /etc/hostname and
// an empty /run, when imgc has neither.
func dropRunArtifacts(ref, got map[string]treeEntry) {
	if e, ok := ref["/etc/hostname"]; ok && e.Type == "file" && e.Size == 0 {
		if _, ok := got["/etc/hostname"]; !ok {
			delete(ref, "/etc/hostname")
		}
	}
	if e, ok := ref["/run"]; ok && e.Type == "dir" {
		if _, ok := got["/run"]; !ok {
			for p := range ref {
				if strings.HasPrefix(p, "/run/") {
					return
				}
			}
			delete(ref, "/run")
		}
	}
}

// dockerDiffers is a case's docker-differs.json: where buildah 1.28 is
// known not to do what Docker does, what Docker gives, and why.
type dockerDiffers struct {
	Reason string
	// NotCommitted are paths buildah leaves in the image that Docker
	// does not commit.
	NotCommitted []string
	// Tree gives paths whose entry in Docker's image is not buildah's (or
	// that buildah does not make).
	Tree map[string]treeEntry
	// The config fields present replace buildah's.
	configView
}

// applyDockerDiffers corrects buildah's tree and config with the case's
// docker-differs.json, if it has one.
func applyDockerDiffers(t *testing.T, file string, tree map[string]treeEntry, c *configView) {
	t.Helper()
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	d := dockerDiffers{configView: *c}
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if d.Reason == "" {
		t.Fatalf("%s: says no reason why buildah differs from Docker", file)
	}
	for _, p := range d.NotCommitted {
		if _, ok := tree[p]; !ok {
			t.Errorf("%s: buildah no longer leaves %s: drop it from NotCommitted", file, p)
		}
		delete(tree, p)
	}
	for p, e := range d.Tree {
		if have, ok := tree[p]; ok && have == e {
			t.Errorf("%s: buildah now makes %s as Docker does: drop it from Tree", file, p)
		}
		tree[p] = e
	}
	*c = d.configView
}

// applyImgcGaps reads a case's imgc-gaps.json, the known and documented
// places where imgc does not do what Docker does: {"Reason": "...",
// "NotInImgc": [paths]}. Each path must be in buildah's tree and missing
// from imgc's, so a fixed gap fails the test until its entry goes.
func applyImgcGaps(t *testing.T, file string, ref, got map[string]treeEntry) {
	t.Helper()
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	var gaps struct {
		Reason    string
		NotInImgc []string
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&gaps); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if gaps.Reason == "" {
		t.Fatalf("%s: says no reason for the gap", file)
	}
	for _, p := range gaps.NotInImgc {
		if _, ok := got[p]; ok {
			t.Errorf("%s: imgc now makes %s: drop it from NotInImgc", file, p)
		}
		if _, ok := ref[p]; !ok {
			t.Errorf("%s: buildah does not make %s", file, p)
		}
		delete(ref, p)
	}
}

// treeEntry is what the comparison sees of one file: no times.
type treeEntry struct {
	Type     string
	Mode     string
	Owner    string
	Size     int64
	SHA256   string
	Linkname string
}

// imageTree reads img's merged filesystem (mutate.Extract applies
// whiteouts and opaque directories) as path -> entry.
func imageTree(t *testing.T, img v1.Image) map[string]treeEntry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	tree := map[string]treeEntry{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the merged filesystem: %v", err)
		}
		name := path.Clean("/" + h.Name)
		if name == "/" {
			continue
		}
		e := treeEntry{
			Mode:  fmt.Sprintf("%04o", h.Mode&0o7777),
			Owner: fmt.Sprintf("%d:%d", h.Uid, h.Gid),
		}
		switch h.Typeflag {
		case tar.TypeDir:
			e.Type = "dir"
		case tar.TypeReg:
			e.Type = "file"
			sum := sha256.New()
			n, err := io.Copy(sum, tr)
			if err != nil {
				t.Fatalf("reading %s: %v", name, err)
			}
			e.Size = n
			e.SHA256 = hex.EncodeToString(sum.Sum(nil))[:16]
		case tar.TypeSymlink:
			e.Type = "symlink"
			e.Linkname = h.Linkname
			e.Mode = "" // Linux ignores a symlink's mode
		case tar.TypeLink:
			e.Type = "hardlink"
			e.Linkname = path.Clean("/" + h.Linkname)
		default:
			e.Type = "type " + strconv.Itoa(int(h.Typeflag))
		}
		tree[name] = e
	}
	// A hard link reads as the file it links to: builders differ in
	// whether a link to a file of a lower layer is a link or a copy.
	for name, e := range tree {
		if e.Type == "hardlink" {
			if target, ok := tree[e.Linkname]; ok {
				tree[name] = target
			}
		}
	}
	return tree
}

// configView is the part of an image config a Dockerfile decides, in the
// shape Docker gives it meaning: empty and missing are the same, exposed
// ports are single ports (Docker expands ranges).
type configView struct {
	Env          []string
	Entrypoint   []string
	Cmd          []string
	WorkingDir   string
	User         string
	ExposedPorts []string
	Volumes      []string
	Labels       map[string]string
	StopSignal   string
	Healthcheck  *healthView
	OnBuild      []string
	Shell        []string
	// Author is the config file's, which MAINTAINER sets.
	Author string
}

// healthView is Docker's HealthConfig, with the StartInterval that ggcr's
// v1.HealthConfig lacks.
type healthView struct {
	Test          []string
	Interval      time.Duration
	Timeout       time.Duration
	StartPeriod   time.Duration
	StartInterval time.Duration
	Retries       int
}

func dockerConfig(t *testing.T, img v1.Image) configView {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("reading the image config: %v", err)
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		t.Fatalf("reading the image config: %v", err)
	}
	var health struct {
		Config struct{ Healthcheck *healthView } `json:"config"`
	}
	if err := json.Unmarshal(raw, &health); err != nil {
		t.Fatalf("reading the image config's healthcheck: %v", err)
	}
	c := cf.Config
	v := configView{
		Env:         nilIfEmpty(c.Env),
		Entrypoint:  nilIfEmpty(c.Entrypoint),
		Cmd:         nilIfEmpty(c.Cmd),
		WorkingDir:  c.WorkingDir,
		User:        c.User,
		StopSignal:  c.StopSignal,
		Healthcheck: health.Config.Healthcheck,
		OnBuild:     nilIfEmpty(c.OnBuild),
		Shell:       nilIfEmpty(c.Shell),
		Author:      cf.Author,
	}
	if len(c.Labels) > 0 {
		v.Labels = c.Labels
	}
	for p := range c.ExposedPorts {
		v.ExposedPorts = append(v.ExposedPorts, expandPortRange(t, p)...)
	}
	sort.Strings(v.ExposedPorts)
	for p := range c.Volumes {
		v.Volumes = append(v.Volumes, p)
	}
	sort.Strings(v.Volumes)
	return v
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// expandPortRange turns "90-92/udp" into its ports, as Docker's EXPOSE
// does (buildah 1.28 keeps the range as one key).
func expandPortRange(t *testing.T, p string) []string {
	t.Helper()
	ports, proto, ok := strings.Cut(p, "/")
	if !ok {
		proto = "tcp"
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	if !isRange {
		return []string{ports + "/" + proto}
	}
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || b < a {
		t.Fatalf("exposed port %q is not a port range", p)
	}
	var out []string
	for i := a; i <= b; i++ {
		out = append(out, strconv.Itoa(i)+"/"+proto)
	}
	return out
}
