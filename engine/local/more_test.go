package local_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"golang.org/x/sys/unix"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/internal/testbase"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

func TestFailingStepAndResume(t *testing.T) {
	base := requireRuntime(t)
	s := openStore(t)
	failing := sh("echo preparing >&2; for i in $(seq 1 30); do echo line $i; done; echo oops; exit 3")
	p := &ir.Plan{Project: "resume", Targets: []*ir.Target{target("app", busyboxBase(base),
		layerOf("good", sh("echo good > /good")),
		layerOf("bad", failing),
	)}}
	_, _, err := build(t, s, p, engine.BuildOptions{})
	var se *engine.StepError
	if !errors.As(err, &se) {
		t.Fatalf("build error = %v, want a StepError", err)
	}
	if se.ExitCode != 3 || se.Target != "app" || se.Key != p.Targets[0].Layers[1].Key {
		t.Errorf("StepError = %+v, want exit 3 in app at the bad layer", se)
	}
	if diff := cmp.Diff([]ir.Origin{failing.Origin}, se.Origins); diff != "" {
		t.Errorf("origins (-want +got):\n%s", diff)
	}
	// runc copies the container's stdout and stderr through separate pipes,
	// so where the stderr line lands among the stdout lines varies.
	var stdout []string
	stderrSeen := false
	for _, l := range se.Tail {
		if l == "preparing" {
			stderrSeen = true
			continue
		}
		stdout = append(stdout, l)
	}
	if n := len(stdout); len(se.Tail) != 20 || n < 2 || stdout[n-1] != "oops" || stdout[n-2] != "line 30" {
		t.Errorf("tail = %q, want the last 20 lines, stdout's ending in line 30, oops", se.Tail)
	}
	if !stderrSeen && len(se.Tail) == 20 && se.Tail[0] != "line 12" {
		t.Errorf("tail = %q: the stderr line is neither in it nor before it", se.Tail)
	}
	if imgs, _ := s.Images(); len(imgs) != 0 {
		t.Errorf("a failed build stored images: %+v", imgs)
	}
	// Fixed, the build resumes after the last good layer.
	p2 := &ir.Plan{Project: "resume", Targets: []*ir.Target{target("app", busyboxBase(base),
		layerOf("good", sh("echo good > /good")),
		layerOf("bad", sh("cat /good > /fixed")),
	)}}
	_, ev, err := build(t, s, p2, engine.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ev.count("cached") != 1 || ev.count("start") != 1 {
		t.Errorf("resumed build: %d cached, %d started; want 1 and 1", ev.count("cached"), ev.count("start"))
	}
	entries, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp"))
	if len(entries) != 0 {
		t.Errorf("tmp/ holds %d leftovers after the builds", len(entries))
	}
}

func TestSecretReachesNoBlob(t *testing.T) {
	base := requireRuntime(t)
	s := openStore(t)
	const secret = "s3cr3t-value-4c1d"
	secretFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(secret))
	hash := hex.EncodeToString(sum[:])
	run := sh(`test "$(sha256sum < /run/secrets/token | cut -c1-64)" = ` + hash + ` && test "$(printf %s "$TOKEN" | sha256sum | cut -c1-64)" = ` + hash + ` && echo used > /used`)
	run.Mounts = []ir.Mount{{Type: ir.MountSecret, ID: "token", Target: "/run/secrets/token", Env: "TOKEN", Required: true}}
	p := &ir.Plan{Project: "secret", Targets: []*ir.Target{target("app", busyboxBase(base), layerOf("use", run))}}
	out := filepath.Join(t.TempDir(), "out.tar")
	if _, _, err := build(t, s, p, engine.BuildOptions{Secrets: map[string]string{"token": secretFile}, Outputs: []engine.Output{{Type: "docker", Dest: out}}}); err != nil {
		t.Fatal(err)
	}
	var hits []string
	for _, dir := range []string{s.Dir(), filepath.Dir(out)} {
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err != nil || !fi.Mode().IsRegular() || p == secretFile {
				return nil
			}
			data, _ := os.ReadFile(p)
			if bytes.Contains(data, []byte(secret)) || bytes.Contains(gunzip(data), []byte(secret)) {
				hits = append(hits, p)
			}
			return nil
		})
	}
	if len(hits) > 0 {
		t.Errorf("the secret is in %q", hits)
	}
	img, err := tarball.ImageFromPath(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Errorf("docker output: %v", err)
	}
	files := layerFiles(t, img)
	if diff := cmp.Diff([]string{"used"}, files[len(files)-1]); diff != "" {
		t.Errorf("secret step's layer (-want +got):\n%s", diff)
	}

	// A secret with its own owner and mode, for a step that is not root.
	mode, uid := uint32(0o400), 65534
	own := sh(`test "$(stat -c '%u %a' /run/secrets/token)" = "65534 400" && cat /run/secrets/token > /dev/null`)
	own.User = "nobody"
	own.Mounts = []ir.Mount{{Type: ir.MountSecret, ID: "token", Mode: &mode, UID: &uid}}
	p2 := &ir.Plan{Project: "secret", Targets: []*ir.Target{target("own", busyboxBase(base), layerOf("own", own))}}
	if _, _, err := build(t, s, p2, engine.BuildOptions{Secrets: map[string]string{"token": secretFile}}); err != nil {
		t.Errorf("secret with uid and mode: %v", err)
	}

	// A required secret that is not given is an error naming it.
	_, _, err = build(t, openStore(t), p, engine.BuildOptions{})
	if err == nil || !strings.Contains(err.Error(), `"token"`) {
		t.Errorf("build without the secret: %v, want an error naming the secret", err)
	}
}

func gunzip(data []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil
	}
	out, _ := io.ReadAll(zr)
	return out
}

func TestReproducibleAcrossCaches(t *testing.T) {
	base := requireRuntime(t)
	ctxDir := t.TempDir()
	writeFiles(t, ctxDir, map[string]string{"src/a.txt": "a\n", "src/b/c.txt": "c\n"})
	plan := func() *ir.Plan {
		line = 0
		return &ir.Plan{Project: ctxDir, Targets: []*ir.Target{target("app", busyboxBase(base),
			layerOf("copy", contextCopy(t, ctxDir, []string{"src"}, "/src/")),
			layerOf("run", sh("ls -l /src > /listing && touch /stamp && rm -rf /usr/sbin && mkdir /usr/sbin && echo x > /usr/sbin/only")),
		)}}
	}
	epoch := time.Unix(1700000000, 0)
	var digests []string
	for i := 0; i < 2; i++ {
		res, _, err := build(t, openStore(t), plan(), engine.BuildOptions{SourceDateEpoch: &epoch})
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, res.Images[0].Digest)
		time.Sleep(1100 * time.Millisecond) // so that unclamped times would differ
	}
	if digests[0] != digests[1] {
		t.Errorf("two clean builds gave %s and %s", digests[0], digests[1])
	}
}

func TestOpaqueDirAndOutputs(t *testing.T) {
	base := requireRuntime(t)
	s := openStore(t)
	p := &ir.Plan{Project: "opaque", Targets: []*ir.Target{target("app", busyboxBase(base),
		layerOf("replace etc", sh("rm -rf /usr/sbin && mkdir /usr/sbin && echo x > /usr/sbin/only")),
	)}}
	dir := t.TempDir()
	outs := []engine.Output{{Type: "oci", Dest: filepath.Join(dir, "layout")}, {Type: "oci-archive", Dest: filepath.Join(dir, "oci.tar")}, {Type: "docker", Dest: filepath.Join(dir, "docker.tar")}}
	res, _, err := build(t, s, p, engine.BuildOptions{Outputs: outs})
	if err != nil {
		t.Fatal(err)
	}
	img := layoutImage(t, filepath.Join(dir, "layout"), "app")
	files := layerFiles(t, img)
	if !slices.Contains(files[1], "usr/sbin/.wh..wh..opq") {
		t.Errorf("layer lacks the opaque marker: %q", files[1])
	}
	// zstd on request: validate.Image reads gzip only, so check the diff id by hand.
	zdir := filepath.Join(dir, "zstd")
	if _, _, err := build(t, openStore(t), p, engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: zdir}}, Compression: "zstd"}); err != nil {
		t.Fatal(err)
	}
	zimg := testbase.LayoutImage(t, zdir, "app")
	if err := validate.Image(zimg, validate.Fast); err != nil {
		t.Errorf("zstd image: %v", err)
	}
	zlayers, _ := zimg.Layers()
	zl := zlayers[len(zlayers)-1]
	if mt, _ := zl.MediaType(); mt != types.OCILayerZStd {
		t.Errorf("built layer media type %s, want zstd", mt)
	}
	rc, err := zl.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := v1.SHA256(rc)
	rc.Close()
	if want, _ := zl.DiffID(); err != nil || got != want {
		t.Errorf("zstd layer content hashes to %s (%v), its diff id is %s", got, err, want)
	}
	root := testbase.Rootfs(t, img)
	des, err := os.ReadDir(filepath.Join(root, "usr/sbin"))
	if err != nil || len(des) != 1 || des[0].Name() != "only" {
		t.Errorf("etc holds %v (%v), want only the new file", des, err)
	}
	// The oci-archive unpacks to a layout with the same image.
	ext := t.TempDir()
	untar(t, filepath.Join(dir, "oci.tar"), ext)
	img2 := layoutImage(t, ext, "app")
	if d, _ := img2.Digest(); d.String() != res.Images[0].Digest {
		t.Errorf("oci-archive digest %s, want %s", d, res.Images[0].Digest)
	}
	tag, _ := name.NewTag("app")
	img3, err := tarball.ImageFromPath(filepath.Join(dir, "docker.tar"), &tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img3); err != nil {
		t.Errorf("docker output: %v", err)
	}
	var saved bytes.Buffer
	if err := imageio.Save(s, "app", &saved); err != nil {
		t.Fatal(err)
	}
	if _, err := tarball.Image(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(saved.Bytes())), nil }, &tag); err != nil {
		t.Errorf("reading the saved image: %v", err)
	}
}

func untar(t testing.TB, file, dir string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		data, _ := io.ReadAll(tr)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPushAndPullBack(t *testing.T) {
	base := requireRuntime(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	ref := u.Host + "/imgc/app:v1"
	s := openStore(t)
	tg := target("app", busyboxBase(base), layerOf("hello", sh("echo hello > /hello")))
	tg.Tags = []string{ref}
	res, ev, err := build(t, s, &ir.Plan{Project: "push", Targets: []*ir.Target{tg}}, engine.BuildOptions{Push: true})
	if err != nil {
		t.Fatal(err)
	}
	var exports []string
	for _, e := range ev.all {
		if e.Kind == "export" {
			exports = append(exports, e.Line)
		}
	}
	if diff := cmp.Diff([]string{"name:" + ref, "push:" + ref}, exports); diff != "" {
		t.Errorf("export events (-want +got):\n%s", diff)
	}
	r, _ := name.ParseReference(ref)
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	if d.String() != res.Images[0].Digest {
		t.Errorf("pulled %s, built %s", d, res.Images[0].Digest)
	}
	if err := validate.Image(img); err != nil {
		t.Errorf("pulled image: %v", err)
	}
	// Push from the store under another name, then use it as a registry base pinned by digest.
	ref2 := u.Host + "/imgc/copy:v2"
	if err := imageio.Push(context.Background(), s, ref, ref2); err != nil {
		t.Fatal(err)
	}
	dig, err := imageio.ResolveBase(context.Background(), imageref.MustParse(ref2), platform)
	if err != nil || dig != res.Images[0].Digest {
		t.Errorf("ResolveBase(%s) = %s, %v; want %s", ref2, dig, err, res.Images[0].Digest)
	}
	s2 := openStore(t)
	b := imageBase(ref2)
	b.Digest, b.Key = dig, ir.KeyOf([]byte(dig))
	res2, _, err := build(t, s2, &ir.Plan{Project: "pull", Targets: []*ir.Target{target("child", b, layerOf("check", sh("test -f /hello")))}}, engine.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res2.Pins[ref2+" "+platform.String()] != dig {
		t.Errorf("pins = %v, want %s -> %s", res2.Pins, ref2, dig)
	}
}

// maliciousLayout writes an OCI layout whose only layer holds the given
// tar entries.
func maliciousLayout(t testing.TB, hdrs []*tar.Header) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	tw.Close()
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1), l)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "latest"})); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestMaliciousBaseRefused(t *testing.T) {
	requireRuntime(t)
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]*tar.Header{
		"path traversal": {{Name: "../../../../../../" + outside[1:] + "/pwned", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}},
		"symlink escape": {
			{Name: "escape", Typeflag: tar.TypeSymlink, Linkname: outside, Mode: 0o777},
			{Name: "escape/pwned", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644},
		},
	}
	for name, hdrs := range cases {
		t.Run(name, func(t *testing.T) {
			dir := maliciousLayout(t, hdrs)
			b := imageBase("oci:" + dir)
			b.Key, b.Origin = ir.KeyOf([]byte(dir)), ir.Origin{File: "evil.image.hcl", Line: 2}
			p := &ir.Plan{Project: "evil", Targets: []*ir.Target{target("app", b, layerOf("run", &ir.Run{Argv: []string{"/x"}, Network: ir.NetworkNone, Origin: origin()}))}}
			_, _, err := build(t, openStore(t), p, engine.BuildOptions{})
			if err == nil {
				t.Fatal("a malicious base layer was accepted")
			}
			t.Logf("error: %v", err)
			var se *engine.StepError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), "unpacking layer") || se.Origins[0] != b.Origin {
				t.Errorf("error %q is not a StepError at the base's origin saying it was unpacking a layer", err)
			}
			if des, _ := os.ReadDir(outside); len(des) != 0 {
				t.Errorf("the layer wrote %v outside its root", des)
			}
		})
	}
}

func TestStagesCopyFromAddAndCacheMount(t *testing.T) {
	base := requireRuntime(t)
	s := openStore(t)
	ctxDir := t.TempDir()
	// A local archive for add with extract, and a file served over HTTP.
	var tgz bytes.Buffer
	zw := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "pkg/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "pkg/data.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5})
	tw.Write([]byte("data\n"))
	tw.Close()
	zw.Close()
	writeFiles(t, ctxDir, map[string]string{"pkg.tar.gz": tgz.String()})
	served := []byte("downloaded\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(served) }))
	defer srv.Close()
	sum := sha256.Sum256(served)

	builder := target("builder", busyboxBase(base),
		layerOf("compile", sh("mkdir -p /out && echo artifact > /out/bin && chown 65534:65534 /out/bin")))
	builder.Kind, builder.Output = ir.KindStage, false
	other := target("other", busyboxBase(base), layerOf("other", sh("echo other > /other")))
	other.Kind, other.Output = ir.KindStage, false

	cacheRun := sh("echo run >> /cache/log; wc -l < /cache/log > /runs")
	cacheRun.Mounts = []ir.Mount{{Type: ir.MountCache, Target: "/cache", ID: "c1", Sharing: "locked"}}
	bindRun := sh("cat /in/other > /bound")
	bindRun.Mounts = []ir.Mount{{Type: ir.MountBind, FromTarget: "other", Source: "/", Target: "/in"}, {Type: ir.MountTmpfs, Target: "/scratch"}}
	addLocal := &ir.Add{Context: ctxDir, Sources: []string{"pkg.tar.gz"}, Dest: "/opt/", Extract: true, Origin: origin()}
	addLocal.Files = contextCopy(t, ctxDir, []string{"pkg.tar.gz"}, "/opt/").Files
	addURL := &ir.Add{URL: srv.URL + "/file.txt", Checksum: "sha256:" + hex.EncodeToString(sum[:]), Dest: "/dl/", Chown: "nobody", Origin: origin()}
	app := target("app", busyboxBase(base),
		layerOf("from builder", &ir.Copy{Sources: []string{"/out/"}, Dest: "/app/", FromTarget: "builder", Chown: "nobody:nobody", Origin: origin()}),
		layerOf("add", addLocal, addURL),
		layerOf("cache", cacheRun),
		layerOf("bind", bindRun),
	)
	app.DependsOn = []string{"builder", "other"}
	p := &ir.Plan{Project: "stages", Targets: []*ir.Target{builder, other, app}}
	out := filepath.Join(t.TempDir(), "out")
	_, _, err := build(t, s, p, engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}})
	if err != nil {
		t.Fatal(err)
	}
	img := layoutImage(t, out, "app")
	root := testbase.Rootfs(t, img)
	for p, want := range map[string]string{"app/bin": "artifact\n", "opt/pkg/data.txt": "data\n", "dl/file.txt": "downloaded\n", "runs": "1\n", "bound": "other\n"} {
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", p, got, err, want)
		}
	}
	fi, err := os.Stat(filepath.Join(root, "app/bin"))
	if err == nil {
		if fi.Sys() != nil {
			uid, gid := owner(fi)
			if uid != 65534 || gid != 65534 {
				t.Errorf("app/bin owned by %d:%d, want 65534:65534 (chown nobody:nobody)", uid, gid)
			}
		}
	}
	fi, err = os.Stat(filepath.Join(root, "dl/file.txt"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("downloaded file mode %v (%v), want 0600", fi.Mode(), err)
	}
	for _, names := range layerFiles(t, img)[1:] {
		for _, n := range names {
			if strings.HasPrefix(n, "cache/log") || strings.HasPrefix(n, "in/") || strings.HasPrefix(n, "scratch/") {
				t.Errorf("a mount's content reached a layer: %s", n)
			}
		}
	}
	// The cache mount persists: a forced rebuild sees the first run's line.
	if _, _, err := build(t, s, p, engine.BuildOptions{NoCache: true, Outputs: []engine.Output{{Type: "oci", Dest: out}}}); err != nil {
		t.Fatal(err)
	}
	root = testbase.Rootfs(t, layoutImage(t, out, "app"))
	if got, _ := os.ReadFile(filepath.Join(root, "runs")); string(got) != "2\n" {
		t.Errorf("second run saw %q lines in the cache mount, want 2", got)
	}
	u, err := s.DiskUsage()
	if err != nil || u.Mounts == 0 || u.Total < u.Blobs {
		t.Errorf("DiskUsage() = %+v, %v", u, err)
	}
}

func TestCancelCleansUp(t *testing.T) {
	base := requireRuntime(t)
	s := openStore(t)
	p := &ir.Plan{Project: "cancel", Targets: []*ir.Target{target("app", busyboxBase(base), layerOf("slow", sh("echo started; sleep 3600")))}}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := local.New(s).Build(ctx, p, engine.BuildOptions{Progress: func(e engine.Event) {
			if e.Kind == "log" && e.Line == "started" {
				cancel()
			}
		}})
		errc <- err
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled build: %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Minute):
		// A hang guard: the step sleeps for an hour unless cancelled.
		t.Fatal("the build hung: its step was not stopped by the cancellation")
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), s.Dir()) {
		t.Errorf("mounts left under the store:\n%s", mounts)
	}
	if des, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(des) != 0 {
		t.Errorf("tmp/ holds %d leftovers", len(des))
	}
	if entries, _ := s.CacheList(); len(entries) != 0 {
		t.Errorf("a cancelled layer reached the cache index: %+v", entries)
	}
}

func TestConcurrentBuildsShareTheCache(t *testing.T) {
	base := requireRuntime(t)
	dir := t.TempDir()
	p := &ir.Plan{Project: "concurrent", Targets: []*ir.Target{target("app", busyboxBase(base),
		layerOf("one", sh("sleep 0.3; date +%s%N > /one")),
		layerOf("two", sh("cat /one > /two")),
	)}}
	var results [2]*engine.Result
	var evs [2]*events
	var errs [2]error
	done := make(chan int)
	for i := range 2 {
		go func() {
			s, err := store.Open(dir)
			if err != nil {
				errs[i] = err
			} else {
				epoch := time.Unix(1700000000, 0)
				results[i], evs[i], errs[i] = build(t, s, p, engine.BuildOptions{SourceDateEpoch: &epoch})
			}
			done <- i
		}()
	}
	<-done
	<-done
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if results[0].Images[0].Digest != results[1].Images[0].Digest {
		t.Errorf("concurrent builds gave %s and %s", results[0].Images[0].Digest, results[1].Images[0].Digest)
	}
	if started := evs[0].count("start") + evs[1].count("start"); started != 2 {
		t.Errorf("%d layers were built in all, want each of the 2 once", started)
	}
}

func TestExplainPrunedAndNeverBuilt(t *testing.T) {
	base := requireRuntime(t)
	s := openStore(t)
	tg := target("stage", busyboxBase(base), layerOf("one", sh("echo 1 > /one")), layerOf("two", sh("echo 2 > /two")))
	tg.Kind, tg.Output = ir.KindStage, false
	p := &ir.Plan{Project: "explain", Targets: []*ir.Target{tg}}
	st := local.New(s).Explain(p)
	if got := st[tg.Layers[0].Key]; got.Hit || got.Reason != "never built" {
		t.Errorf("before any build: %+v, want a miss: never built", got)
	}
	if _, _, err := build(t, s, p, engine.BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := local.New(s).Explain(p)[tg.Layers[1].Key]; !got.Hit {
		t.Errorf("after the build: %+v, want a hit", got)
	}
	// A killed build's mount is left behind; prune detaches it.
	stale := filepath.Join(s.Dir(), "tmp", "stale mount")
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", stale, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	// No stored image needs a stage's layers: prune removes their blobs.
	if _, err := s.Prune(); err != nil {
		t.Fatal(err)
	}
	if mounts, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mounts), s.Dir()) {
		t.Errorf("prune left mounts under the store:\n%s", mounts)
	}
	if exists, _ := os.Stat(stale); exists != nil {
		t.Errorf("prune left %s", stale)
	}
	st = local.New(s).Explain(p)
	want := map[ir.CacheKey]ir.Status{
		tg.Layers[0].Key: {Reason: "not in the cache (pruned)"},
		tg.Layers[1].Key: {Reason: "parent layer rebuilt"},
	}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("after prune (-want +got):\n%s", diff)
	}
	// The next build rebuilds them from the base.
	_, ev, err := build(t, s, p, engine.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ev.count("start") != 2 {
		t.Errorf("after prune, %d layers rebuilt, want 2", ev.count("start"))
	}
}

func TestWritesAreChecked(t *testing.T) {
	base := requireRuntime(t)
	honest := sh("mkdir -p /out/sub && echo x > /out/sub/x && rm /bin/ls")
	honest.Writes = []string{"/out", "/bin/ls"}
	liar := sh("mkdir -p /out && echo x > /out/x && echo y > /undeclared")
	liar.Writes = []string{"/out"}
	s := openStore(t)
	if _, _, err := build(t, s, &ir.Plan{Project: "writes", Targets: []*ir.Target{target("honest", busyboxBase(base), layerOf("honest", honest))}}, engine.BuildOptions{}); err != nil {
		t.Errorf("a step that writes what it declares: %v", err)
	}
	// The working directory made for a step is not its write.
	inNewDir := sh("echo x > /out2")
	inNewDir.Writes, inNewDir.Workdir = []string{"/out2"}, "/srv/app"
	if _, _, err := build(t, s, &ir.Plan{Project: "writes", Targets: []*ir.Target{target("workdir", busyboxBase(base), layerOf("workdir", inNewDir))}}, engine.BuildOptions{}); err != nil {
		t.Errorf("a step in a working directory the base lacks: %v", err)
	}
	_, _, err := build(t, s, &ir.Plan{Project: "writes", Targets: []*ir.Target{target("liar", busyboxBase(base), layerOf("liar", liar))}}, engine.BuildOptions{})
	var se *engine.StepError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "/undeclared") || strings.Contains(err.Error(), "/out/x") {
		t.Errorf("a step that writes outside its writes: %v, want a StepError naming /undeclared only", err)
	}
	if entries, _ := s.CacheList(); len(entries) != 2 {
		t.Errorf("%d cache entries, want only the two honest layers'", len(entries))
	}
}

func TestDockerArchiveBaseBecomesOCI(t *testing.T) {
	requireRuntime(t)
	bb, err := testbase.BusyboxV1Image()
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("busybox:latest")
	archive := filepath.Join(t.TempDir(), "busybox.tar")
	if err := tarball.WriteToFile(archive, tag, mutate.MediaType(bb, types.DockerManifestSchema2)); err != nil {
		t.Fatal(err)
	}
	b := imageBase("docker-archive:" + archive)
	b.Key = ir.KeyOf([]byte(archive))
	s := openStore(t)
	d, err := imageio.ResolveBase(context.Background(), b.Ref, platform)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	res, _, err := build(t, s, &ir.Plan{Project: "docker-archive", Targets: []*ir.Target{target("app", b, layerOf("run", sh("echo ok > /ok")))}}, engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pins[b.Ref.String()+" "+platform.String()] != d {
		t.Errorf("pins %v, ResolveBase %q", res.Pins, d)
	}
	img := layoutImage(t, out, "app")
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("manifest %s, config %s: want OCI media types", m.MediaType, m.Config.MediaType)
	}
	for _, l := range m.Layers {
		if l.MediaType != types.OCILayer {
			t.Errorf("layer %s has media type %s, want %s", l.Digest, l.MediaType, types.OCILayer)
		}
	}
}

// rendezvous is a step that marks that it runs, in a cache mount both
// steps share, and waits until the other step has marked it too: two such
// steps succeed only if they run at once. The two minutes are a hang
// guard, not a bound on speed.
func rendezvous(me, other, then string) *ir.Run {
	r := sh(`touch /sync/` + me + `; i=0; while [ ! -e /sync/` + other + ` ]; do ` +
		`if [ $i -ge 1200 ]; then echo "` + other + ` never ran while ` + me + ` did" >&2; exit 1; fi; sleep 0.1; i=$((i+1)); done; ` + then)
	r.Mounts = []ir.Mount{{Type: ir.MountCache, ID: "sync", Target: "/sync", Sharing: "shared"}}
	return r
}

func TestIndependentTargetsRunInParallel(t *testing.T) {
	base := requireRuntime(t)
	a := target("a", busyboxBase(base), layerOf("a", rendezvous("a", "b", "echo a > /a")))
	b := target("b", busyboxBase(base), layerOf("b", rendezvous("b", "a", "echo b > /b")))
	s := openStore(t)
	res, _, err := build(t, s, &ir.Plan{Project: "parallel", Targets: []*ir.Target{a, b}}, engine.BuildOptions{Parallelism: 2})
	if err != nil {
		t.Fatalf("two independent targets did not run at once: %v", err)
	}
	if len(res.Images) != 2 {
		t.Errorf("%d images, want 2", len(res.Images))
	}
}

// TestAddURLOntoDirectory: a download added to a destination without a
// trailing "/" where the image has a directory goes into it, named after
// the URL as in BuildKit (it was named after the download's cache file).
func TestAddURLOntoDirectory(t *testing.T) {
	base := requireRuntime(t)
	served := []byte("downloaded\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(served) }))
	defer srv.Close()
	sum := sha256.Sum256(served)
	add := &ir.Add{URL: srv.URL + "/tool.sh", Checksum: "sha256:" + hex.EncodeToString(sum[:]), Dest: "/opt", Origin: origin()}
	p := &ir.Plan{Project: "addurl", Targets: []*ir.Target{target("app", busyboxBase(base),
		layerOf("dir", sh("mkdir /opt")), layerOf("add", add))}}
	out := filepath.Join(t.TempDir(), "out")
	if _, _, err := build(t, openStore(t), p, engine.BuildOptions{Outputs: []engine.Output{{Type: "oci", Dest: out}}}); err != nil {
		t.Fatal(err)
	}
	files := layerFiles(t, layoutImage(t, out, "app"))
	if diff := cmp.Diff([]string{"opt/", "opt/tool.sh"}, files[len(files)-1]); diff != "" {
		t.Errorf("add layer (-want +got):\n%s", diff)
	}
}
