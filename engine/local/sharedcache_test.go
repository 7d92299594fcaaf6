package local_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

var cacheEpoch = time.Unix(1700000000, 0)

// cachePlan is a stage that compiles (two run layers) and an image that
// installs its result, copies src.txt from the context and runs over both.
// install is the copy from the stage's dest, to change it.
func cachePlan(t *testing.T, base, ctxDir, install, stamp string) *ir.Plan {
	line = 0
	stage := target("build", busyboxBase(base),
		layerOf("compile", sh("mkdir -p /out && echo artifact > /out/bin")),
		layerOf("more", sh("echo more >> /out/bin")))
	stage.Kind, stage.Output = ir.KindStage, false
	src := contextCopy(t, ctxDir, []string{"src.txt"}, "/app/")
	copySrc := layerOf("copy src", src)
	app := target("app", busyboxBase(base),
		layerOf("install", &ir.Copy{Sources: []string{"/out/bin"}, Dest: install, FromTarget: "build", Origin: origin()}),
		copySrc,
		layerOf("stamp", sh(stamp)))
	// What the compiler records for a copy: one input per file.
	copySrc.Inputs = []ir.KeyInput{{Name: "dest", Value: "/app/"}, {Name: "file src.txt", Value: src.Files[0].Digest}}
	app.DependsOn = []string{"build"}
	app.Tags = []string{"example.com/app:1"}
	return &ir.Plan{Project: ctxDir, Targets: []*ir.Target{stage, app}}
}

const defaultStamp = "cat /app/src.txt /usr/bin/app* > /stamp"

func cacheContext(t *testing.T, src string) string {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"src.txt": src})
	return dir
}

// buildWith builds p in s with the cache options and reproducible times.
func buildWith(t *testing.T, s *store.Store, p *ir.Plan, to []string, from []string) (*engine.Result, *events) {
	t.Helper()
	o := engine.BuildOptions{SourceDateEpoch: &cacheEpoch}
	for _, v := range to {
		exp, err := engine.ParseCacheExport(v)
		if err != nil {
			t.Fatal(err)
		}
		o.CacheTo = append(o.CacheTo, exp)
	}
	o.CacheFrom = cacheImports(t, from)
	res, ev, err := build(t, s, p, o)
	if err != nil {
		t.Fatalf("build: %v\nevents: %v", err, warnings(ev))
	}
	return res, ev
}

func cacheImports(t *testing.T, from []string) []engine.CacheImport {
	var out []engine.CacheImport
	for _, v := range from {
		imp, err := engine.ParseCacheImport(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, imp)
	}
	return out
}

func warnings(ev *events) []string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	var out []string
	for _, e := range ev.all {
		if e.Kind == "warning" {
			out = append(out, e.Line)
		}
	}
	return out
}

func built(ev *events, target string) bool {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for _, e := range ev.all {
		if e.Kind == "target" && e.Target == target {
			return true
		}
	}
	return false
}

func entryOf(t *testing.T, s *store.Store, k ir.CacheKey) store.Entry {
	t.Helper()
	e, ok, _ := s.LookupKey(k)
	if !ok {
		t.Fatalf("key %s is not in the cache", k.Short())
	}
	return e
}

func TestSharedCacheLocalRoundTrip(t *testing.T) {
	base := requireRuntime(t)
	ctxDir := cacheContext(t, "one\n")
	dir := filepath.Join(t.TempDir(), "cache")
	s1 := openStore(t)
	p := cachePlan(t, base, ctxDir, "/usr/bin/app", defaultStamp)
	res1, _ := buildWith(t, s1, p, []string{"type=local,dest=" + dir + ",mode=max"}, nil)

	// A fresh cache dir builds the same image without running anything,
	// and without downloading the stage nothing reads.
	s2 := openStore(t)
	dir2 := filepath.Join(t.TempDir(), "cache2")
	res2, ev := buildWith(t, s2, cachePlan(t, base, ctxDir, "/usr/bin/app", defaultStamp), []string{"type=local,dest=" + dir2 + ",mode=max"}, []string{"type=local,src=" + dir})
	if res2.Images[0].Digest != res1.Images[0].Digest {
		t.Errorf("from the cache: digest %s, built %s", res2.Images[0].Digest, res1.Images[0].Digest)
	}
	if n := ev.count("start"); n != 0 {
		t.Errorf("a build from the exported cache ran %d layers, want 0", n)
	}
	if built(ev, "build") {
		t.Errorf("the stage was built though every layer reading it hits")
	}
	stageBlob := entryOf(t, s1, p.Targets[0].Layers[1].Key).Digest
	if s2.HasBlob(stageBlob) {
		t.Errorf("the stage's layer %s was downloaded though nothing needed it", stageBlob)
	}
	for _, l := range p.Targets[1].Layers {
		if e := entryOf(t, s2, l.Key); !s2.HasBlob(e.Digest) {
			t.Errorf("the image's layer %s has no blob", l.Name)
		}
	}

	// A copy from the stage that misses needs its content: only then are
	// its layers downloaded, and they are not run.
	s3 := openStore(t)
	_, ev = buildWith(t, s3, cachePlan(t, base, ctxDir, "/usr/bin/app2", defaultStamp), nil, []string{"type=oci,src=" + dir})
	if n := ev.count("start"); n != 3 {
		t.Errorf("a changed copy from the stage ran %d layers, want 3 (install, copy src, stamp)", n)
	}
	if !s3.HasBlob(stageBlob) {
		t.Errorf("the stage's layer was not downloaded though a copy from it ran")
	}
	if _, ok, _ := s3.LookupKey(p.Targets[0].Layers[1].Key); !ok {
		t.Errorf("the downloaded stage layer is not in the local key index")
	}

	// The second build's max export carried the stage it skipped over
	// (records and blobs, copied from the first export) to its own.
	_, ev = buildWith(t, openStore(t), cachePlan(t, base, ctxDir, "/usr/bin/app2", defaultStamp), nil, []string{"type=local,src=" + dir2})
	if n := ev.count("start"); n != 3 {
		t.Errorf("from the re-export, a changed copy from the stage ran %d layers, want 3: %q", n, warnings(ev))
	}
}

// countingRegistry is go-containerregistry's in-process registry, counting
// blob uploads and manifest puts.
type countingRegistry struct {
	h                    http.Handler
	mu                   sync.Mutex
	uploads, manifestPut int
}

func (c *countingRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/blobs/uploads") {
		c.uploads++
	}
	if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
		c.manifestPut++
	}
	c.mu.Unlock()
	c.h.ServeHTTP(w, r)
}

func (c *countingRegistry) reset() (uploads, puts int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	uploads, puts = c.uploads, c.manifestPut
	c.uploads, c.manifestPut = 0, 0
	return uploads, puts
}

func startRegistry(t *testing.T) (*countingRegistry, string) {
	reg := &countingRegistry{h: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return reg, u.Host
}

func TestSharedCacheRegistry(t *testing.T) {
	base := requireRuntime(t)
	reg, host := startRegistry(t)
	ref := host + "/imgc/cache:main"
	ctxDir := cacheContext(t, "one\n")
	s1 := openStore(t)
	p := cachePlan(t, base, ctxDir, "/usr/bin/app", defaultStamp)
	res1, _ := buildWith(t, s1, p, []string{"type=registry,ref=" + ref + ",mode=max"}, nil)
	if up, puts := reg.reset(); up == 0 || puts != 1 {
		t.Errorf("the first export made %d uploads and %d manifest puts, want some and 1", up, puts)
	}
	// Nothing new: no blob is uploaded (go-containerregistry does not even
	// put the manifest again when the registry has it).
	buildWith(t, s1, cachePlan(t, base, ctxDir, "/usr/bin/app", defaultStamp), []string{"type=registry,ref=" + ref + ",mode=max"}, nil)
	if up, puts := reg.reset(); up != 0 || puts > 1 {
		t.Errorf("re-exporting an unchanged cache made %d uploads and %d manifest puts, want 0 and at most 1", up, puts)
	}

	// One new layer: its blob and the new records are uploaded, nothing else.
	buildWith(t, s1, cachePlan(t, base, ctxDir, "/usr/bin/app", defaultStamp+" && echo 2 >> /stamp"), []string{"type=registry,ref=" + host + "/imgc/cache:next,mode=max"}, nil)
	if up, puts := reg.reset(); up != 2 || puts != 1 {
		t.Errorf("exporting one new layer made %d uploads and %d manifest puts, want 2 (the layer, the records) and 1", up, puts)
	}

	s2 := openStore(t)
	res2, ev := buildWith(t, s2, cachePlan(t, base, ctxDir, "/usr/bin/app", defaultStamp), nil, []string{ref})
	if res2.Images[0].Digest != res1.Images[0].Digest {
		t.Errorf("from the registry cache: digest %s, built %s", res2.Images[0].Digest, res1.Images[0].Digest)
	}
	if n := ev.count("start"); n != 0 {
		t.Errorf("a build from the registry cache ran %d layers, want 0", n)
	}

	// mode=min exports the output image's layers only.
	buildWith(t, s1, cachePlan(t, base, ctxDir, "/usr/bin/app", defaultStamp), []string{"type=registry,ref=" + host + "/imgc/cache:min"}, nil)
	src, err := imageio.OpenCache(context.Background(), "registry", host+"/imgc/cache:min")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range p.Targets[0].Layers {
		if _, _, ok := src.Lookup(l.Key); ok {
			t.Errorf("mode=min exported the stage's layer %s", l.Name)
		}
	}
	for _, l := range p.Targets[1].Layers {
		if _, problem, ok := src.Lookup(l.Key); !ok || problem != "" {
			t.Errorf("mode=min lacks the image's layer %s (%q)", l.Name, problem)
		}
	}
}

func TestSharedCacheFromAnotherCommit(t *testing.T) {
	base := requireRuntime(t)
	dir := filepath.Join(t.TempDir(), "cache")
	ctxA := cacheContext(t, "one\n")
	buildWith(t, openStore(t), cachePlan(t, base, ctxA, "/usr/bin/app", defaultStamp), []string{"type=local,dest=" + dir + ",mode=max"}, nil)

	// The next commit changes src.txt: a fresh machine's plan says why.
	ctxB := cacheContext(t, "two\n")
	p := cachePlan(t, base, ctxB, "/usr/bin/app", defaultStamp)
	s := openStore(t)
	status, warns := local.New(s).ExplainFrom(context.Background(), p, cacheImports(t, []string{"type=local,src=" + dir}))
	if len(warns) != 0 {
		t.Errorf("warnings: %q", warns)
	}
	from := "local:" + dir
	app, stage := p.Targets[1], p.Targets[0]
	want := map[ir.CacheKey]ir.Status{
		// The stage is not needed (the copy from it hits): skipped.
		stage.Layers[0].Key: {Hit: true, From: from, Skipped: true},
		stage.Layers[1].Key: {Hit: true, From: from, Skipped: true},
		app.Layers[0].Key:   {Hit: true, From: from},
		app.Layers[1].Key:   {Reason: "copied file src.txt changed"},
		app.Layers[2].Key:   {Reason: "parent layer rebuilt"},
	}
	if diff := cmp.Diff(want, status); diff != "" {
		t.Errorf("ExplainFrom (-want +got):\n%s", diff)
	}
	if n := len(s.LastBuild(p.Project)); n != 0 {
		t.Errorf("plan recorded %d targets", n)
	}
	for _, l := range append(stage.Layers, app.Layers...) {
		if e, ok, _ := s.LookupKey(l.Key); ok || s.HasBlob(e.Digest) && e.Digest.Hex != "" {
			t.Errorf("plan downloaded layer %s", l.Name)
		}
	}
	_, ev := buildWith(t, s, p, nil, []string{"type=local,src=" + dir})
	if n := ev.count("start"); n != 2 {
		t.Errorf("after a change to src.txt, %d layers ran, want 2 (copy src, stamp)", n)
	}
	if built(ev, "build") {
		t.Errorf("the stage was built though its reader hits")
	}
}

// rewriteCache changes an exported local cache's records (and, with
// mutM, its manifest) and writes it back consistently, digests included.
func rewriteCache(t *testing.T, dir string, mut func(cfg *imageio.CacheConfig, m *v1.Manifest)) {
	t.Helper()
	idxData, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(idxData, &idx); err != nil {
		t.Fatal(err)
	}
	blob := func(h v1.Hash) string { return filepath.Join(dir, "blobs", h.Algorithm, h.Hex) }
	mData, err := os.ReadFile(blob(idx.Manifests[0].Digest))
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(mData, &m); err != nil {
		t.Fatal(err)
	}
	cData, err := os.ReadFile(blob(m.Config.Digest))
	if err != nil {
		t.Fatal(err)
	}
	var cfg imageio.CacheConfig
	if err := json.Unmarshal(cData, &cfg); err != nil {
		t.Fatal(err)
	}
	mut(&cfg, &m)
	put := func(data []byte) v1.Hash {
		sum := sha256.Sum256(data)
		h := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
		if err := os.WriteFile(blob(h), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return h
	}
	cData, _ = json.Marshal(cfg)
	m.Config.Digest, m.Config.Size = put(cData), int64(len(cData))
	mData, _ = json.Marshal(m)
	idx.Manifests[0].Digest, idx.Manifests[0].Size = put(mData), int64(len(mData))
	idxData, _ = json.Marshal(idx)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), idxData, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSharedCacheCorruptEntriesAreRefused(t *testing.T) {
	base := requireRuntime(t)
	ctxDir := cacheContext(t, "one\n")
	good := filepath.Join(t.TempDir(), "good")
	s0 := openStore(t)
	p := cachePlan(t, base, ctxDir, "/usr/bin/app", defaultStamp)
	res0, _ := buildWith(t, s0, p, []string{"type=local,dest=" + good + ",mode=max"}, nil)
	stamp := p.Targets[1].Layers[2] // of the output image: downloaded at once
	more := p.Targets[0].Layers[1]  // of the stage: downloaded when needed
	blobPath := func(dir string, l *ir.Layer) string {
		d := entryOf(t, s0, l.Key).Digest
		return filepath.Join(dir, "blobs", d.Algorithm, d.Hex)
	}
	record := func(cfg *imageio.CacheConfig, k ir.CacheKey) *imageio.CacheRecord {
		for i := range cfg.Records {
			if cfg.Records[i].Key == k {
				return &cfg.Records[i]
			}
		}
		t.Fatalf("no record of %s", k.Short())
		return nil
	}
	otherDiff := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	cases := []struct {
		name    string
		layer   *ir.Layer
		install string // the copy from the stage's dest: a new one makes the stage needed
		corrupt func(t *testing.T, dir string)
		want    string // in the warning
	}{
		{"blob of another content", stamp, "/usr/bin/app", func(t *testing.T, dir string) {
			p := blobPath(dir, stamp)
			data, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Repeat([]byte{'x'}, len(data)), 0o644)
		}, "digest mismatch"},
		{"missing blob", stamp, "/usr/bin/app", func(t *testing.T, dir string) {
			os.Remove(blobPath(dir, stamp))
		}, "is missing"},
		{"truncated blob", stamp, "/usr/bin/app", func(t *testing.T, dir string) {
			os.Truncate(blobPath(dir, stamp), 10)
		}, "has 10 bytes"},
		{"record of another size", stamp, "/usr/bin/app", func(t *testing.T, dir string) {
			rewriteCache(t, dir, func(cfg *imageio.CacheConfig, m *v1.Manifest) { record(cfg, stamp.Key).Size += 7 })
		}, "the manifest lists it with"},
		{"record and manifest of another size", stamp, "/usr/bin/app", func(t *testing.T, dir string) {
			e := entryOf(t, s0, stamp.Key)
			rewriteCache(t, dir, func(cfg *imageio.CacheConfig, m *v1.Manifest) {
				record(cfg, stamp.Key).Size += 7
				for i := range m.Layers {
					if m.Layers[i].Digest == e.Digest {
						m.Layers[i].Size += 7
					}
				}
			})
		}, "and the record says"},
		{"lying diff id", stamp, "/usr/bin/app", func(t *testing.T, dir string) {
			rewriteCache(t, dir, func(cfg *imageio.CacheConfig, m *v1.Manifest) { record(cfg, stamp.Key).DiffID = otherDiff })
		}, "the record says diff ID"},
		{"lying diff id of a stage downloaded later", more, "/usr/bin/app2", func(t *testing.T, dir string) {
			rewriteCache(t, dir, func(cfg *imageio.CacheConfig, m *v1.Manifest) { record(cfg, more.Key).DiffID = otherDiff })
		}, "the record says diff ID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cache")
			if err := os.CopyFS(dir, os.DirFS(good)); err != nil {
				t.Fatal(err)
			}
			c.corrupt(t, dir)
			want := res0.Images[0].Digest
			if c.install != "/usr/bin/app" {
				// Build the changed plan cleanly for the digest to expect.
				r, _ := buildWith(t, openStore(t), cachePlan(t, base, ctxDir, c.install, defaultStamp), nil, nil)
				want = r.Images[0].Digest
			}
			s := openStore(t)
			res, ev := buildWith(t, s, cachePlan(t, base, ctxDir, c.install, defaultStamp), nil, []string{"type=local,src=" + dir})
			if res.Images[0].Digest != want {
				t.Errorf("digest %s, want %s", res.Images[0].Digest, want)
			}
			var found bool
			for _, w := range warnings(ev) {
				if strings.Contains(w, "refusing the entry "+c.layer.Key.Short()) && strings.Contains(w, c.layer.Name) && strings.Contains(w, c.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("no warning refusing %s (%s) with %q: %q", c.layer.Key.Short(), c.layer.Name, c.want, warnings(ev))
			}
			if n := ev.count("error"); n != 0 {
				t.Errorf("%d error events in a build that refused an entry and went on", n)
			}
			ran := false
			ev.mu.Lock()
			for _, e := range ev.all {
				if e.Kind == "start" && e.Key == c.layer.Key {
					ran = true
				}
			}
			ev.mu.Unlock()
			if !ran {
				t.Errorf("the refused layer %s was not built", c.layer.Name)
			}
			if e := entryOf(t, s, c.layer.Key); e.DiffID == otherDiff {
				t.Errorf("the lying entry reached the local index")
			}
		})
	}
}

func TestSharedCacheRefusedEntryComesFromTheNextCache(t *testing.T) {
	base := requireRuntime(t)
	ctxDir := cacheContext(t, "one\n")
	good := filepath.Join(t.TempDir(), "good")
	s0 := openStore(t)
	p := cachePlan(t, base, ctxDir, "/usr/bin/app", defaultStamp)
	res0, _ := buildWith(t, s0, p, []string{"type=local,dest=" + good + ",mode=max"}, nil)
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.CopyFS(bad, os.DirFS(good)); err != nil {
		t.Fatal(err)
	}
	stamp := p.Targets[1].Layers[2]
	d := entryOf(t, s0, stamp.Key).Digest
	blob := filepath.Join(bad, "blobs", d.Algorithm, d.Hex)
	data, _ := os.ReadFile(blob)
	os.WriteFile(blob, bytes.Repeat([]byte{'x'}, len(data)), 0o644)

	res, ev := buildWith(t, openStore(t), cachePlan(t, base, ctxDir, "/usr/bin/app", defaultStamp), nil, []string{"type=local,src=" + bad, "type=local,src=" + good})
	if res.Images[0].Digest != res0.Images[0].Digest {
		t.Errorf("digest %s, want %s", res.Images[0].Digest, res0.Images[0].Digest)
	}
	if n := ev.count("start"); n != 0 {
		t.Errorf("%d layers ran, want 0: the second cache holds the refused entry", n)
	}
	if w := warnings(ev); len(w) != 1 || !strings.Contains(w[0], "local:"+bad) {
		t.Errorf("warnings %q, want one refusing the entry of %s", w, bad)
	}
}

func TestSharedCacheConcurrentExports(t *testing.T) {
	base := requireRuntime(t)
	_, host := startRegistry(t)
	ref := host + "/imgc/cache:shared"
	dir := filepath.Join(t.TempDir(), "cache")
	ctxDir := cacheContext(t, "one\n")
	plans := []func() *ir.Plan{
		func() *ir.Plan { return cachePlan(t, base, ctxDir, "/usr/bin/app", defaultStamp) },
		func() *ir.Plan {
			return cachePlan(t, base, ctxDir, "/usr/bin/app", defaultStamp+" && echo b >> /stamp")
		},
	}
	to := []string{"type=registry,ref=" + ref + ",mode=max", "type=local,dest=" + dir + ",mode=max"}
	var wg sync.WaitGroup
	for i := range plans {
		p := plans[i]()
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := engine.BuildOptions{SourceDateEpoch: &cacheEpoch}
			for _, v := range to {
				exp, _ := engine.ParseCacheExport(v)
				o.CacheTo = append(o.CacheTo, exp)
			}
			if _, _, err := build(t, openStore(t), p, o); err != nil {
				t.Errorf("concurrent build %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	for _, from := range []string{"type=registry,ref=" + ref, "type=local,src=" + dir} {
		imp := cacheImports(t, []string{from})[0]
		// Whichever export won, the cache is whole: every record's blob
		// downloads and verifies.
		src, err := imageio.OpenCache(context.Background(), imp.Type, imp.Location())
		if err != nil {
			t.Fatalf("%s: %v", from, err)
		}
		s := openStore(t)
		for _, p := range plans {
			for _, tg := range p().Targets {
				for _, l := range tg.Layers {
					rec, problem, ok := src.Lookup(l.Key)
					if !ok {
						continue
					}
					if problem != "" {
						t.Errorf("%s: entry of %s: %s", from, l.Name, problem)
					} else if !rec.Empty {
						if err := src.Fetch(context.Background(), s, rec); err != nil {
							t.Errorf("%s: entry of %s: %v", from, l.Name, err)
						}
					}
				}
			}
		}
		// And one of the two builds hits it whole.
		zero := 0
		for _, p := range plans {
			_, ev := buildWith(t, openStore(t), p(), nil, []string{from})
			if ev.count("start") == 0 {
				zero++
			}
		}
		if zero == 0 {
			t.Errorf("%s: neither build hits the cache whole", from)
		}
	}
}

// startDistribution runs distribution's registry (Debian's docker-registry,
// which make deps installs) on a free loopback port with its storage in a
// temporary directory, and returns its host:port.
func startDistribution(t *testing.T) string {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("skipping: needs distribution's registry, docker-registry (make deps installs it)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "storage"), addr)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for i := 0; i < 100; i++ {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			return addr
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("docker-registry does not answer on %s: %s", addr, logs.String())
	return ""
}

func TestSharedCacheDistributionRegistry(t *testing.T) {
	base := requireRuntime(t)
	host := startDistribution(t)
	ref := host + "/imgc/cache:main"
	ctxDir := cacheContext(t, "one\n")
	res1, _ := buildWith(t, openStore(t), cachePlan(t, base, ctxDir, "/usr/bin/app", defaultStamp), []string{"type=registry,ref=" + ref + ",mode=max"}, nil)
	s := openStore(t)
	res2, ev := buildWith(t, s, cachePlan(t, base, ctxDir, "/usr/bin/app", defaultStamp), nil, []string{"type=registry,ref=" + ref})
	if res2.Images[0].Digest != res1.Images[0].Digest {
		t.Errorf("from distribution's registry: digest %s, built %s", res2.Images[0].Digest, res1.Images[0].Digest)
	}
	if n := ev.count("start"); n != 0 {
		t.Errorf("a build from distribution's registry ran %d layers, want 0", n)
	}
	// The stage's layers come down when a copy from it misses.
	_, ev = buildWith(t, s, cachePlan(t, base, ctxDir, "/usr/bin/app2", defaultStamp), nil, []string{"type=registry,ref=" + ref})
	if n := ev.count("start"); n != 3 {
		t.Errorf("a changed copy from the stage ran %d layers, want 3", n)
	}
}
