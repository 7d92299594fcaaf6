package imageio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgc-dev/imgc/internal/hashio"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// imgc's shared cache format: an OCI image manifest whose artifactType is
// CacheArtifactType, whose config (of media type CacheConfigMediaType) is a
// CacheConfig, and whose layers are the layer blobs its records name. In a
// registry it is pushed under a tag; in a directory (type=local or oci) it
// is an OCI image layout whose index.json names it "latest".
const (
	CacheArtifactType    = "application/vnd.imgc.cache.v1"
	CacheConfigMediaType = types.MediaType("application/vnd.imgc.cache.config.v1+json")
	cacheFormatVersion   = 1
	// cacheTag names the cache in a layout's index.json.
	cacheTag = "latest"
	// maxCacheDocument bounds the manifest and config read from a cache.
	maxCacheDocument = 64 << 20
)

// CacheRecord is one key of a shared cache: the layer it produced, as the
// key index holds it.
type CacheRecord struct {
	Key ir.CacheKey `json:"key"`
	store.Entry
}

// CacheConfig is the config document of a shared cache.
type CacheConfig struct {
	Version int           `json:"version"`
	Records []CacheRecord `json:"records"`
	// Targets holds each exported target's layers as the exporting build
	// planned them, with their recorded inputs, so that `imgc plan` on
	// another machine can say why a layer misses.
	Targets map[string][]*ir.Layer `json:"targets,omitempty"`
}

// BlobOpener opens a blob the store lacks: a layer of an imported cache
// that the build reused without downloading it.
type BlobOpener func(ctx context.Context, d v1.Hash) (io.ReadCloser, error)

// ExportCache writes cfg as a shared cache: typ "registry" pushes it to the
// reference loc, uploading only the blobs the repository lacks; "local"
// and "oci" write an OCI layout at the directory loc, copying only the
// blobs it lacks. Layer blobs come from the store or, for those it lacks,
// from open. The cache's index (the manifest, or index.json) is replaced
// last and at once, so readers and concurrent exports see one whole
// export or another.
func ExportCache(ctx context.Context, s *store.Store, typ, loc string, cfg *CacheConfig, open BlobOpener) error {
	art, err := newCacheArtifact(cfg)
	if err != nil {
		return &CacheExportError{Dest: loc, Err: err}
	}
	blob := func(ctx context.Context, d v1.Hash) (io.ReadCloser, error) {
		if f, err := os.Open(s.BlobPath(d)); err == nil {
			return f, nil
		}
		if open == nil {
			return nil, fmt.Errorf("blob %s is not in the store", d)
		}
		return open(ctx, d)
	}
	switch typ {
	case "registry":
		err = pushCache(ctx, loc, art, blob)
	case "local", "oci":
		err = writeCacheLayout(ctx, loc, art, blob)
	default:
		err = fmt.Errorf("the local engine exports caches of type registry, local or oci, not %q", typ)
	}
	if err != nil {
		return &CacheExportError{Dest: loc, Err: err}
	}
	return nil
}

// CacheExportError is a failed cache export (--cache-to), which the CLI
// names as such: a build that pushes its image and exports its cache to
// one registry must say which of the two failed.
type CacheExportError struct {
	Dest string
	Err  error
}

func (e *CacheExportError) Error() string {
	return fmt.Sprintf("exporting the cache to %s: %v", e.Dest, e.Err)
}
func (e *CacheExportError) Unwrap() error { return e.Err }

// Sentence is the error as one sentence: what failed, then the registry's
// or network's trouble in words when ProblemSentence knows it.
func (e *CacheExportError) Sentence() string {
	return "exporting the cache to " + e.Dest + ": " + Sentence(e.Err)
}

// cacheArtifact is a cache's documents and the layers it lists.
type cacheArtifact struct {
	config, manifest []byte
	layers           []v1.Descriptor
	desc             v1.Descriptor // of the manifest
}

func newCacheArtifact(cfg *CacheConfig) (*cacheArtifact, error) {
	c := *cfg
	c.Version = cacheFormatVersion
	c.Records = append([]CacheRecord(nil), cfg.Records...)
	sort.Slice(c.Records, func(i, j int) bool { return c.Records[i].Key.String() < c.Records[j].Key.String() })
	rawCfg, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	layers := []v1.Descriptor{}
	seen := map[v1.Hash]bool{}
	for _, r := range c.Records {
		if r.Empty || seen[r.Digest] {
			continue
		}
		seen[r.Digest] = true
		layers = append(layers, v1.Descriptor{MediaType: r.MediaType, Size: r.Size, Digest: r.Digest})
	}
	return newArtifact(CacheArtifactType, CacheConfigMediaType, rawCfg, layers)
}

// newArtifact is the OCI artifact of type artifactType whose config (of
// media type cfgType) is rawCfg and whose layers are layers.
func newArtifact(artifactType string, cfgType types.MediaType, rawCfg []byte, layers []v1.Descriptor) (*cacheArtifact, error) {
	cfgDigest, _, err := v1.SHA256(bytes.NewReader(rawCfg))
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config:        v1.Descriptor{MediaType: cfgType, Size: int64(len(rawCfg)), Digest: cfgDigest},
		Layers:        layers,
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	d, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	return &cacheArtifact{config: rawCfg, manifest: raw, layers: m.Layers,
		desc: v1.Descriptor{MediaType: types.OCIManifestSchema1, ArtifactType: artifactType, Size: int64(len(raw)), Digest: d}}, nil
}

// pushCache pushes the artifact to ref. go-containerregistry asks the
// registry for each blob first and uploads only the missing ones, then
// puts the manifest.
func pushCache(ctx context.Context, ref string, art *cacheArtifact, blob BlobOpener) error {
	r, err := ParseReference(ref)
	if err != nil {
		return err
	}
	img, err := partial.CompressedToImage(&cacheImage{ctx: ctx, art: art, blob: blob})
	if err != nil {
		return err
	}
	return remote.Write(r, img, cacheOptions(ctx)...)
}

// cacheImage is the artifact as go-containerregistry's image, to push it.
type cacheImage struct {
	ctx  context.Context
	art  *cacheArtifact
	blob BlobOpener
}

func (i *cacheImage) RawConfigFile() ([]byte, error)      { return i.art.config, nil }
func (i *cacheImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (i *cacheImage) RawManifest() ([]byte, error)        { return i.art.manifest, nil }
func (i *cacheImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, d := range i.art.layers {
		if d.Digest == h {
			return &cacheBlob{i: i, d: d}, nil
		}
	}
	return nil, fmt.Errorf("the cache lists no blob %s", h)
}

type cacheBlob struct {
	i *cacheImage
	d v1.Descriptor
}

func (b *cacheBlob) Digest() (v1.Hash, error)            { return b.d.Digest, nil }
func (b *cacheBlob) Size() (int64, error)                { return b.d.Size, nil }
func (b *cacheBlob) MediaType() (types.MediaType, error) { return b.d.MediaType, nil }
func (b *cacheBlob) Compressed() (io.ReadCloser, error)  { return b.i.blob(b.i.ctx, b.d.Digest) }

// writeCacheLayout writes the artifact as an OCI layout at dir: missing
// blobs first (each verified and renamed into place), then index.json;
// then it removes the blobs neither this export nor the one it replaced
// names, unless the directory holds more than imgc caches (see
// cacheDirLock).
func writeCacheLayout(ctx context.Context, dir string, art *cacheArtifact, blob BlobOpener) error {
	return writeLayoutArtifact(ctx, dir, art, cacheTag, blob, func(d v1.Descriptor) bool { return d.ArtifactType == CacheArtifactType })
}

// writeLayoutArtifact writes the artifact art into the OCI layout at dir,
// named tag in its index.json, in place of the index's manifests that
// replaces selects, as writeCacheLayout says.
func writeLayoutArtifact(ctx context.Context, dir string, art *cacheArtifact, tag string, blob BlobOpener, replaces func(v1.Descriptor) bool) error {
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}
	unlock, err := lockCacheDir(ctx, dir)
	if err != nil {
		return err
	}
	defer unlock()
	// The blobs of the export this one replaces stay for the readers that
	// read its index (see cacheDirLock).
	keep, foreign := layoutReferences(dir)
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		if err := writeAtomically(filepath.Join(dir, "oci-layout"), func(w io.Writer) error {
			_, err := w.Write([]byte(`{"imageLayoutVersion":"1.0.0"}`))
			return err
		}); err != nil {
			return err
		}
	}
	for _, d := range art.layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := putLayoutBlob(dir, d, func() (io.ReadCloser, error) { return blob(ctx, d.Digest) }); err != nil {
			return fmt.Errorf("writing blob %s: %w", d.Digest, err)
		}
	}
	for _, doc := range [][]byte{art.config, art.manifest} {
		d, _, err := v1.SHA256(bytes.NewReader(doc))
		if err != nil {
			return err
		}
		desc := v1.Descriptor{Digest: d, Size: int64(len(doc))}
		if err := putLayoutBlob(dir, desc, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(doc)), nil }); err != nil {
			return err
		}
	}
	desc := art.desc
	desc.Annotations = map[string]string{store.RefNameAnnotation: tag}
	if err := replaceInIndex(ctx, dir, desc, replaces); err != nil {
		return err
	}
	if foreign {
		return nil
	}
	keep[art.desc.Digest] = true
	for _, doc := range [][]byte{art.config} {
		d, _, err := v1.SHA256(bytes.NewReader(doc))
		if err != nil {
			return err
		}
		keep[d] = true
	}
	for _, d := range art.layers {
		keep[d.Digest] = true
	}
	return pruneCacheLayout(dir, keep)
}

// putLayoutBlob writes the blob d under dir unless a file of its size is
// there, through a temporary file whose content must hash to d.
func putLayoutBlob(dir string, d v1.Descriptor, open func() (io.ReadCloser, error)) error {
	path := filepath.Join(dir, "blobs", d.Digest.Algorithm, d.Digest.Hex)
	if fi, err := os.Stat(path); err == nil && fi.Size() == d.Size {
		return nil
	}
	rc, err := open()
	if err != nil {
		return err
	}
	defer rc.Close()
	return writeAtomically(path, func(w io.Writer) error {
		hw := hashio.NewWriter(w)
		if _, err := io.Copy(hw, io.LimitReader(rc, d.Size+1)); err != nil {
			return err
		}
		if got := hw.Sum(); got != d.Digest || hw.N != d.Size {
			return fmt.Errorf("its content (%d bytes) hashes to %s, want %s of %d bytes", hw.N, got, d.Digest, d.Size)
		}
		return nil
	})
}

// CacheSource is an imported shared cache (--cache-from): its records,
// read when it is opened, and its blobs, downloaded only by Fetch.
type CacheSource struct {
	// Name says where the cache is, for messages (type:location).
	Name string
	// Repository is the registry repository of a type=registry cache
	// (REGISTRY/REPOSITORY), where its blobs can be mounted from; empty
	// for a directory.
	Repository string
	// Targets are the exporting build's layers of each target.
	Targets map[string][]*ir.Layer
	records map[ir.CacheKey]cacheEntry
	open    BlobOpener
}

type cacheEntry struct {
	rec CacheRecord
	// problem says why the record cannot be trusted; empty when it can.
	problem string
}

// OpenCache reads the records of the shared cache of type typ ("registry",
// "local" or "oci") at loc, without downloading any layer. A record that
// disagrees with the cache's manifest (a blob of another size or media
// type, one the manifest does not list, or, in a directory, one missing
// or truncated) is kept with its problem, which Lookup reports.
func OpenCache(ctx context.Context, typ, loc string) (*CacheSource, error) {
	var (
		rawMan []byte
		open   BlobOpener
		stat   func(d v1.Hash) (int64, error)
		err    error
	)
	switch typ {
	case "registry":
		rawMan, open, err = openRegistryCache(ctx, loc)
	case "local", "oci":
		rawMan, open, stat, err = openLayoutCache(loc)
	default:
		err = fmt.Errorf("the local engine imports caches of type registry, local or oci, not %q", typ)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the cache %s: %w", loc, err)
	}
	c, err := parseCache(ctx, typ+":"+loc, rawMan, open, stat)
	if err != nil {
		return nil, fmt.Errorf("reading the cache %s: %w", loc, err)
	}
	if typ == "registry" {
		if r, err := name.ParseReference(loc); err == nil {
			c.Repository = r.Context().Name()
		}
	}
	return c, nil
}

func parseCache(ctx context.Context, name string, rawMan []byte, open BlobOpener, stat func(v1.Hash) (int64, error)) (*CacheSource, error) {
	var cfg CacheConfig
	m, err := readArtifact(ctx, rawMan, open, CacheConfigMediaType, "an imgc cache", &cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Version != cacheFormatVersion {
		return nil, fmt.Errorf("it has format version %d, and this imgc reads version %d", cfg.Version, cacheFormatVersion)
	}
	layers := map[v1.Hash]v1.Descriptor{}
	for _, d := range m.Layers {
		layers[d.Digest] = d
	}
	for _, layers := range cfg.Targets {
		for _, l := range layers {
			if l != nil {
				sanitizeLayer(l)
			}
		}
	}
	c := &CacheSource{Name: name, Targets: cfg.Targets, records: map[ir.CacheKey]cacheEntry{}, open: open}
	for _, r := range cfg.Records {
		if r.Key.IsZero() {
			continue
		}
		c.records[r.Key] = cacheEntry{rec: r, problem: recordProblem(r, layers, stat)}
	}
	return c, nil
}

// readArtifact parses the manifest rawMan of an artifact, checks that its
// config has media type cfgType (else it is not what, say "an imgc
// cache"), and reads its config, verified, into cfg.
func readArtifact(ctx context.Context, rawMan []byte, open BlobOpener, cfgType types.MediaType, what string, cfg any) (*v1.Manifest, error) {
	m, err := v1.ParseManifest(bytes.NewReader(rawMan))
	if err != nil {
		return nil, fmt.Errorf("parsing its manifest: %w", err)
	}
	if m.Config.MediaType != cfgType {
		if strings.HasPrefix(string(m.Config.MediaType), "application/vnd.buildkit.cacheconfig") {
			return nil, fmt.Errorf("it is not %s but a BuildKit cache, which imgc's local engine cannot read: import it with --builder, or import a cache an imgc build without --builder exported", what)
		}
		return nil, fmt.Errorf("it is not %s: its config has media type %q, not %q", what, m.Config.MediaType, cfgType)
	}
	if m.Config.Size > maxCacheDocument {
		return nil, fmt.Errorf("its config has %d bytes, more than the %d it may have", m.Config.Size, maxCacheDocument)
	}
	rawCfg, err := readVerified(ctx, open, m.Config)
	if err != nil {
		return nil, fmt.Errorf("reading its config: %w", err)
	}
	if err := json.Unmarshal(rawCfg, cfg); err != nil {
		return nil, fmt.Errorf("parsing its config: %w", err)
	}
	return m, nil
}

// sanitizeLayer replaces the control characters of what `imgc plan` may
// print of an imported layer (its name, inputs and variables), so that a
// cache cannot write terminal escape sequences.
func sanitizeLayer(l *ir.Layer) {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				return '?'
			}
			return r
		}, s)
	}
	l.Name, l.CreatedBy = clean(l.Name), clean(l.CreatedBy)
	for i := range l.Inputs {
		l.Inputs[i].Name, l.Inputs[i].Value = clean(l.Inputs[i].Name), clean(l.Inputs[i].Value)
	}
	vars := make(map[string]string, len(l.Vars))
	for k, v := range l.Vars {
		vars[clean(k)] = clean(v)
	}
	l.Vars = vars
	l.Origin.File = clean(l.Origin.File)
}

// recordProblem says what is wrong with r, or "".
func recordProblem(r CacheRecord, layers map[v1.Hash]v1.Descriptor, stat func(v1.Hash) (int64, error)) string {
	if r.Empty {
		return ""
	}
	d, ok := layers[r.Digest]
	switch {
	case !ok:
		return fmt.Sprintf("its blob %s is not a layer of the cache's manifest", r.Digest)
	case d.Size != r.Size:
		return fmt.Sprintf("it names blob %s of %d bytes, and the manifest lists it with %d", r.Digest, r.Size, d.Size)
	case d.MediaType != r.MediaType:
		return fmt.Sprintf("it names blob %s as %q, and the manifest lists it as %q", r.Digest, r.MediaType, d.MediaType)
	case r.Size <= 0:
		return fmt.Sprintf("it names blob %s with size %d", r.Digest, r.Size)
	}
	if stat != nil {
		n, err := stat(r.Digest)
		switch {
		case err != nil:
			return fmt.Sprintf("its blob %s is missing", r.Digest)
		case n != r.Size:
			return fmt.Sprintf("its blob %s has %d bytes, and the record says %d", r.Digest, n, r.Size)
		}
	}
	return ""
}

// readVerified reads the small blob d whole, checking its size and digest.
func readVerified(ctx context.Context, open BlobOpener, d v1.Descriptor) ([]byte, error) {
	rc, err := open(ctx, d.Digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, d.Size+1))
	if err != nil {
		return nil, err
	}
	got, _, err := v1.SHA256(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if got != d.Digest || int64(len(data)) != d.Size {
		return nil, fmt.Errorf("blob %s: its content (%d bytes) hashes to %s, the manifest lists %d bytes", d.Digest, len(data), got, d.Size)
	}
	return data, nil
}

func openRegistryCache(ctx context.Context, ref string) ([]byte, BlobOpener, error) {
	desc, open, err := registryArtifact(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	if desc.MediaType.IsIndex() {
		return nil, nil, fmt.Errorf("it is an image index (%s), not an imgc cache; BuildKit's registry caches are read by the BuildKit engine", desc.MediaType)
	}
	return desc.Manifest, open, nil
}

// registryArtifact gets the manifest ref names, and an opener of its
// repository's blobs. One puller serves the manifest and every blob: one
// authentication (the registry's /v2/ ping) and one pool of connections,
// not one of each per blob.
func registryArtifact(ctx context.Context, ref string) (*remote.Descriptor, BlobOpener, error) {
	r, err := ParseReference(ref)
	if err != nil {
		return nil, nil, err
	}
	puller, err := remote.NewPuller(cacheOptions(ctx)...)
	if err != nil {
		return nil, nil, err
	}
	desc, err := puller.Get(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	if len(desc.Manifest) > maxCacheDocument {
		return nil, nil, fmt.Errorf("its manifest is too large")
	}
	repo := r.Context()
	open := func(ctx context.Context, d v1.Hash) (io.ReadCloser, error) {
		l, err := puller.Layer(ctx, repo.Digest(d.String()))
		if err != nil {
			return nil, err
		}
		return l.Compressed()
	}
	return desc, open, nil
}

func openLayoutCache(dir string) ([]byte, BlobOpener, func(v1.Hash) (int64, error), error) {
	raw, open, err := layoutArtifact(dir, func(idx *v1.IndexManifest) *v1.Descriptor {
		var man *v1.Descriptor
		for i, d := range idx.Manifests {
			if d.ArtifactType == CacheArtifactType && (man == nil || d.Annotations[store.RefNameAnnotation] == cacheTag) {
				man = &idx.Manifests[i]
			}
		}
		return man
	})
	if errors.Is(err, errNoArtifact) {
		return nil, nil, nil, errors.New("its index.json names no imgc cache (a manifest of artifactType " + CacheArtifactType + ")")
	}
	if err != nil {
		return nil, nil, nil, err
	}
	stat := func(d v1.Hash) (int64, error) {
		fi, err := os.Stat(filepath.Join(dir, "blobs", d.Algorithm, d.Hex))
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	return raw, open, stat, nil
}

// errNoArtifact is a layout whose index.json names no manifest of the
// kind asked for.
var errNoArtifact = errors.New("no such artifact")

// layoutArtifact reads, verified, the manifest pick chooses from the
// index.json of the OCI layout at dir, and returns it with an opener of
// the layout's blobs; errNoArtifact when pick chooses none.
func layoutArtifact(dir string, pick func(*v1.IndexManifest) *v1.Descriptor) ([]byte, BlobOpener, error) {
	data, err := readBounded(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, nil, err
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("parsing index.json: %w", err)
	}
	man := pick(idx)
	if man == nil {
		return nil, nil, errNoArtifact
	}
	open := func(ctx context.Context, d v1.Hash) (io.ReadCloser, error) {
		return os.Open(filepath.Join(dir, "blobs", d.Algorithm, d.Hex))
	}
	if man.Size > maxCacheDocument {
		return nil, nil, fmt.Errorf("its manifest is too large")
	}
	raw, err := readVerified(context.Background(), open, *man)
	if err != nil {
		return nil, nil, fmt.Errorf("reading its manifest: %w", err)
	}
	return raw, open, nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCacheDocument+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxCacheDocument {
		return nil, fmt.Errorf("%s is too large", path)
	}
	return data, nil
}

// Lookup returns the record of k. ok is false when the cache has none;
// problem, when not empty, says why the record is refused.
func (c *CacheSource) Lookup(k ir.CacheKey) (rec CacheRecord, problem string, ok bool) {
	e, ok := c.records[k]
	return e.rec, e.problem, ok
}

// Len is the number of records.
func (c *CacheSource) Len() int { return len(c.records) }

// Open opens the blob d of the cache as it is stored there, unverified.
func (c *CacheSource) Open(ctx context.Context, d v1.Hash) (io.ReadCloser, error) {
	return c.open(ctx, d)
}

// Fetch downloads the layer blob of rec into s, unless s has it, and
// verifies it: its digest and size, then its uncompressed content's diff
// ID (within the bound of a base layer of its size, against decompression
// bombs). A blob that fails is never listed in an image: the error says
// which check it failed.
func (c *CacheSource) Fetch(ctx context.Context, s *store.Store, rec CacheRecord) error {
	return fetchLayer(ctx, s, c.open, rec.Layer())
}

// fetchLayer downloads the layer blob l through open into s, unless s has
// it, and verifies it, as CacheSource.Fetch says.
func fetchLayer(ctx context.Context, s *store.Store, open BlobOpener, l store.Layer) error {
	if !s.HasBlob(l.Digest) {
		rc, err := open(ctx, l.Digest)
		if err != nil {
			return fmt.Errorf("downloading blob %s: %w", l.Digest, err)
		}
		// Decompressed and checked on a goroutine as it is stored: the
		// blob is read once. Its digest is checked first.
		v := newStreamVerifier(rc, func(r io.Reader) error {
			zr, err := store.DecompressLayer(r, l.MediaType)
			if err != nil {
				return fmt.Errorf("decompressing blob %s as %s: %w", l.Digest, l.MediaType, err)
			}
			defer zr.Close()
			return checkDiffID(zr, l.Digest, l, s.LayerUnpackBound(l.Size))
		})
		v.passive = true
		_, _, err = s.PutBlobStream(io.LimitReader(v, l.Size+1), l.Digest)
		v.Close()
		if err != nil {
			return fmt.Errorf("downloading blob %s: %w", l.Digest, err)
		}
		if err := checkBlobSize(s, l.Digest, l); err != nil {
			return err
		}
		// Unread when another build stored the blob meanwhile: then it is
		// checked as a stored one.
		if err := v.Result(); err != errUnread {
			return err
		}
	}
	return verifyLayerBlob(s, l.Digest, l)
}

// verifyLayerBlob checks the stored blob d against l: its size, then its
// uncompressed content's diff ID (within the bound of a base layer of its
// size, against decompression bombs). The blob's digest was checked as
// it was stored.
func verifyLayerBlob(s *store.Store, d v1.Hash, l store.Layer) error {
	if err := checkBlobSize(s, d, l); err != nil {
		return err
	}
	rc, err := s.OpenLayer(l)
	if err != nil {
		return fmt.Errorf("decompressing blob %s as %s: %w", d, l.MediaType, err)
	}
	defer rc.Close()
	return checkDiffID(rc, d, l, s.LayerUnpackBound(l.Size))
}

// checkBlobSize checks that the stored blob d has l's size.
func checkBlobSize(s *store.Store, d v1.Hash, l store.Layer) error {
	fi, err := os.Stat(s.BlobPath(d))
	if err != nil {
		return err
	}
	if fi.Size() != l.Size {
		return fmt.Errorf("blob %s has %d bytes, and the record says %d", d, fi.Size(), l.Size)
	}
	return nil
}

// checkDiffID checks that r, the decompressed blob d, hashes to l's diff
// ID and is at most bound bytes (0: any).
func checkDiffID(r io.Reader, d v1.Hash, l store.Layer, bound int64) error {
	if bound > 0 {
		r = io.LimitReader(r, bound+1)
	}
	hw := hashio.NewAsync()
	defer hw.Close()
	if _, err := io.Copy(hw, r); err != nil {
		return fmt.Errorf("decompressing blob %s as %s: %w", d, l.MediaType, err)
	}
	if bound > 0 && hw.N > bound {
		return fmt.Errorf("blob %s unpacks to more than %d bytes", d, bound)
	}
	if got := hw.Sum(); got != l.DiffID {
		return fmt.Errorf("blob %s's content hashes to %s, and the record says diff ID %s", d, got, l.DiffID)
	}
	return nil
}
