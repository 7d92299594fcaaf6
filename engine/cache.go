package engine

import (
	"encoding/csv"
	"fmt"
	"github.com/imgc-dev/imgc/imageref"
	"slices"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
)

// CacheExport is where a build exports its cache (`--cache-to`), in
// BuildKit's words: type=registry,ref=REG/REPO:TAG, type=local,dest=DIR or
// type=oci,dest=DIR, each with mode=min (the default: the layers of the
// output images) or mode=max (every layer built, intermediate stages
// included). The local engine writes imgc's own format (an OCI artifact of
// key records and layer blobs); a BuildKit engine passes Type and Attrs to
// BuildKit's cache exporters.
type CacheExport struct {
	// Type is "registry", "local" or "oci" (the local engine's), or another
	// of BuildKit's exporters ("inline", "gha", "s3", "azblob").
	Type string
	// Ref is the registry reference of type=registry.
	Ref string
	// Dest is the directory of type=local and type=oci.
	Dest string
	// Mode is "min" or "max".
	Mode string
	// IgnoreError makes a failed export a warning (ignore-error=true).
	IgnoreError bool
	// Attrs holds every key=value as written, for engines that pass them
	// on (BuildKit's exporters take more, such as compression).
	Attrs map[string]string
	// Targets, when not empty, scopes the export to these targets (an
	// image's `cache_to`): with mode=min their layers and those of the
	// targets they are built on, with mode=max also every target they
	// read. Empty (--cache-to) exports the whole build's.
	Targets []string
}

// CacheImport is a cache a build consults (`--cache-from`), in BuildKit's
// words: type=registry,ref=REG/REPO:TAG, type=local,src=DIR or
// type=oci,src=DIR; a bare REF means type=registry,ref=REF.
type CacheImport struct {
	// Type is "registry", "local" or "oci", or another of BuildKit's
	// importers ("gha", "s3", "azblob").
	Type string
	// Ref is the registry reference of type=registry.
	Ref string
	// Src is the directory of type=local and type=oci.
	Src string
	// Attrs holds every key=value as written.
	Attrs map[string]string
}

// cacheTypes are the cache exporters and importers BuildKit knows.
var cacheTypes = map[string]bool{"registry": true, "local": true, "oci": true, "inline": true, "gha": true, "s3": true, "azblob": true}

// LocalCacheTypes are the types imgc's local engine exports and imports.
var LocalCacheTypes = []string{"registry", "local", "oci"}

// BlobMapAttr is imgc's cache export attribute that, set to false, writes
// no imgc blobs and blob map beside a BuildKit engine's cache.
const BlobMapAttr = "imgc-blobs"

// The attributes each cache type takes beside type: BuildKit's (its
// exporters' and importers' names, v0.34) and imgc's own (imgc-blobs;
// mount, the local engine's). A type not listed (gha, s3, azblob) takes
// whatever BuildKit's exporter of it does, passed on unchecked.
var (
	commonExportAttrs = []string{"mode", "ignore-error", "compression", "compression-level", "force-compression"}
	exportAttrs       = map[string][]string{
		"registry": append([]string{"ref", "oci-mediatypes", "image-manifest", "registry.insecure", BlobMapAttr}, commonExportAttrs...),
		"local":    append([]string{"dest", "tag", "reset", "oci-mediatypes", "image-manifest", BlobMapAttr}, commonExportAttrs...),
		"inline":   commonExportAttrs,
	}
	// An import also accepts, and ignores as BuildKit does, what an
	// export of its type takes: a value copied from --cache-to works.
	importAttrs = map[string][]string{
		"registry": append([]string{"mount"}, exportAttrs["registry"]...),
		"local":    append([]string{"src", "digest"}, exportAttrs["local"]...),
	}
)

// LocalEngineIgnores are the BuildKit cache attributes the local engine
// accepts and does not use: its cache holds the layers as the build
// compressed them, always with OCI media types in an artifact of its own,
// under the tag latest.
var LocalEngineIgnores = []string{"compression", "compression-level", "force-compression", "oci-mediatypes", "image-manifest", "tag", "reset", "digest", BlobMapAttr}

// didYouMean is " Did you mean X?" for the candidate closest to name,
// within two edits (as model.Suggestion, which the engine boundary does
// not import), or "".
func didYouMean(name string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := levenshtein.Distance(name, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", best)
}

// attrAliases are the long names people write for BuildKit's short ones.
var attrAliases = map[string]string{"source": "src", "destination": "dest", "reference": "ref", "name": "ref"}

// checkCacheAttrs refuses an attribute the cache type does not take
// (a typo such as imgc-blob=false would otherwise be ignored), naming the
// closest one and those it takes.
func checkCacheAttrs(attrs map[string]string, known map[string][]string) error {
	typ := attrs["type"]
	if typ == "oci" {
		typ = "local"
	}
	takes, checked := known[typ]
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "type" || slices.Contains(takes, k) {
			continue
		}
		if !checked && !strings.HasPrefix(k, "imgc-") {
			continue // gha, s3, azblob: BuildKit's to check
		}
		if !checked {
			if k == BlobMapAttr {
				continue
			}
			return fmt.Errorf("imgc knows no attribute %q.%s", k, didYouMean(k, []string{BlobMapAttr}))
		}
		hint := didYouMean(k, takes)
		if alias := attrAliases[k]; slices.Contains(takes, alias) {
			hint = fmt.Sprintf(" Did you mean %q?", alias)
		}
		return fmt.Errorf("type=%s takes no attribute %q.%s It takes %s", attrs["type"], k, hint, strings.Join(takes, ", "))
	}
	return nil
}

// ParseCacheExport parses a --cache-to value, CSV words as BuildKit's
// (type=registry,ref=r.example/app:cache,mode=max); a value without "="
// is a registry reference, as docker buildx reads it.
func ParseCacheExport(s string) (CacheExport, error) {
	if !strings.Contains(s, "=") && strings.TrimSpace(s) != "" {
		s = "type=registry,ref=" + strings.TrimSpace(s)
	}
	attrs, err := parseCacheCSV(s)
	if err != nil {
		return CacheExport{}, fmt.Errorf("parsing cache export %q: %w", s, err)
	}
	c := CacheExport{Type: attrs["type"], Ref: attrs["ref"], Dest: attrs["dest"], Mode: attrs["mode"], Attrs: attrs}
	if c.Mode == "" {
		c.Mode = "min"
	}
	if c.Mode != "min" && c.Mode != "max" {
		return CacheExport{}, fmt.Errorf("parsing cache export %q: mode %q is not min or max", s, c.Mode)
	}
	if v, ok := attrs["ignore-error"]; ok {
		c.IgnoreError = v == "" || v == "true" || v == "1"
	}
	if err := checkCacheType(attrs, c.Ref, c.Dest, "dest"); err != nil {
		return CacheExport{}, fmt.Errorf("parsing cache export %q: %w", s, err)
	}
	if err := checkCacheAttrs(attrs, exportAttrs); err != nil {
		return CacheExport{}, fmt.Errorf("parsing cache export %q: %w", s, err)
	}
	return c, nil
}

// ParseCacheImport parses a --cache-from value, CSV words as BuildKit's
// (type=local,src=DIR); a value without "=" is a registry reference.
func ParseCacheImport(s string) (CacheImport, error) {
	if !strings.Contains(s, "=") {
		s = strings.TrimSpace(s)
		if s == "" {
			return CacheImport{}, fmt.Errorf("parsing cache import: it is empty; write type=registry,ref=REF or type=local,src=DIR")
		}
		return CacheImport{Type: "registry", Ref: s, Attrs: map[string]string{"type": "registry", "ref": s}}, nil
	}
	attrs, err := parseCacheCSV(s)
	if err != nil {
		return CacheImport{}, fmt.Errorf("parsing cache import %q: %w", s, err)
	}
	c := CacheImport{Type: attrs["type"], Ref: attrs["ref"], Src: attrs["src"], Attrs: attrs}
	if err := checkCacheType(attrs, c.Ref, c.Src, "src"); err != nil {
		return CacheImport{}, fmt.Errorf("parsing cache import %q: %w", s, err)
	}
	if err := checkCacheAttrs(attrs, importAttrs); err != nil {
		return CacheImport{}, fmt.Errorf("parsing cache import %q: %w", s, err)
	}
	return c, nil
}

// parseCacheCSV reads key=value words separated by commas, quoted as CSV
// (BuildKit's flags use a CSV reader too).
func parseCacheCSV(s string) (map[string]string, error) {
	r := csv.NewReader(strings.NewReader(s))
	r.TrimLeadingSpace = true
	fields, err := r.Read()
	if err != nil {
		return nil, err
	}
	attrs := map[string]string{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not a key=value word", f)
		}
		if _, dup := attrs[k]; dup {
			return nil, fmt.Errorf("%s is given twice", k)
		}
		attrs[k] = strings.TrimSpace(v)
	}
	return attrs, nil
}

// checkCacheType checks that the type attrs give is known and has what it
// needs: a ref for registry, a directory (under dirKey) for local and
// oci; a missing one names the word written for it instead, if any.
func checkCacheType(attrs map[string]string, ref, dir, dirKey string) error {
	typ := attrs["type"]
	instead := func(want string) string {
		for k := range attrs {
			if attrAliases[k] == want || (want == "src" && k == "dest") || (want == "dest" && k == "src") {
				return fmt.Sprintf(" (not %s=)", k)
			}
		}
		return ""
	}
	switch {
	case typ == "":
		return fmt.Errorf("it has no type: write type=registry,ref=REF or type=local,%s=DIR", dirKey)
	case !cacheTypes[typ]:
		known := make([]string, 0, len(cacheTypes))
		for k := range cacheTypes {
			known = append(known, k)
		}
		sort.Strings(known)
		return fmt.Errorf("type %q is not one of %s.%s", typ, strings.Join(known, ", "), didYouMean(typ, known))
	case typ == "registry" && ref == "":
		return fmt.Errorf("type=registry needs ref=REG/REPO:TAG%s", instead("ref"))
	case (typ == "local" || typ == "oci") && dir == "":
		return fmt.Errorf("type=%s needs %s=DIR%s", typ, dirKey, instead(dirKey))
	}
	if typ == "registry" {
		// Checked now, not after the build that exports to it.
		if _, err := imageref.Parse(ref); err != nil {
			return fmt.Errorf("ref %q is not an image reference: %v", ref, err)
		}
	}
	return nil
}

// NotLocal says, for each of to and from whose type the local engine does
// not export or import (BuildKit's other types), why, as a sentence.
func NotLocal(from []CacheImport, to []CacheExport) []string {
	var out []string
	for _, c := range to {
		if !c.Local() {
			out = append(out, fmt.Sprintf("--cache-to type=%s is one of BuildKit's exporters: the local engine exports type=registry, local or oci. Build on a BuildKit daemon (--builder) for it.", c.Type))
		}
	}
	for _, c := range from {
		if !c.Local() {
			out = append(out, fmt.Sprintf("--cache-from type=%s is one of BuildKit's importers: the local engine imports type=registry, local or oci. Build on a BuildKit daemon (--builder) for it.", c.Type))
		}
	}
	return out
}

// Local tells whether the local engine supports the export's type.
func (c CacheExport) Local() bool { return isLocalCacheType(c.Type) }

// Local tells whether the local engine supports the import's type.
func (c CacheImport) Local() bool { return isLocalCacheType(c.Type) }

func isLocalCacheType(t string) bool {
	for _, l := range LocalCacheTypes {
		if t == l {
			return true
		}
	}
	return false
}

// Location is the export's reference or directory, for messages.
func (c CacheExport) Location() string {
	if c.Type == "registry" {
		return c.Ref
	}
	return c.Dest
}

// Location is the import's reference or directory, for messages.
func (c CacheImport) Location() string {
	if c.Type == "registry" {
		return c.Ref
	}
	return c.Src
}

// Exports tells whether the export takes target's cache: it is one of
// its Targets, or it has none. (An engine that exports per solved target
// asks this; the local engine also follows the targets' dependencies.)
func (c CacheExport) Exports(target string) bool {
	return len(c.Targets) == 0 || slices.Contains(c.Targets, target)
}

func (c CacheExport) String() string { return c.Type + ":" + c.Location() }
func (c CacheImport) String() string { return c.Type + ":" + c.Location() }
