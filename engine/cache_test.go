package engine_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/engine"
)

func TestParseCacheExport(t *testing.T) {
	for _, c := range []struct {
		in   string
		want engine.CacheExport
		err  string
	}{
		{in: "type=registry,ref=r.example/app:cache,mode=max", want: engine.CacheExport{Type: "registry", Ref: "r.example/app:cache", Mode: "max",
			Attrs: map[string]string{"type": "registry", "ref": "r.example/app:cache", "mode": "max"}}},
		{in: "type=local,dest=/tmp/c", want: engine.CacheExport{Type: "local", Dest: "/tmp/c", Mode: "min",
			Attrs: map[string]string{"type": "local", "dest": "/tmp/c"}}},
		{in: `type=oci,"dest=/tmp/a,b",ignore-error=true`, want: engine.CacheExport{Type: "oci", Dest: "/tmp/a,b", Mode: "min", IgnoreError: true,
			Attrs: map[string]string{"type": "oci", "dest": "/tmp/a,b", "ignore-error": "true"}}},
		{in: "type=gha,mode=max", want: engine.CacheExport{Type: "gha", Mode: "max", Attrs: map[string]string{"type": "gha", "mode": "max"}}},
		{in: "r.example/app:cache", want: engine.CacheExport{Type: "registry", Ref: "r.example/app:cache", Mode: "min",
			Attrs: map[string]string{"type": "registry", "ref": "r.example/app:cache"}}},
		{in: "type=registry", err: "type=registry needs ref"},
		{in: "type=registry,ref=Bad Ref!", err: `ref "Bad Ref!" is not an image reference`},
		{in: "type=local,src=/x", err: "type=local needs dest=DIR (not src=)"},
		{in: "type=regsitry,ref=r/a", err: `type "regsitry" is not one of azblob, gha, inline, local, oci, registry, s3. Did you mean "registry"?`},
		{in: "type=registry,name=r/a", err: "type=registry needs ref=REG/REPO:TAG (not name=)"},
		{in: "type=local,dest=/x,destination=/y", err: `type=local takes no attribute "destination". Did you mean "dest"?`},
		{in: "type=local,dest=/x,mode=all", err: `mode "all" is not min or max`},
		{in: "type=ftp,dest=/x", err: `type "ftp" is not one of`},
		{in: "ref=r.example/app", err: "it has no type"},
		{in: "type=local,dest", err: `"dest" is not a key=value word`},
		{in: "type=local,dest=/a,dest=/b", err: "dest is given twice"},
		{in: "type=registry,ref=r.example/app:cache,imgc-blob=false", err: `type=registry takes no attribute "imgc-blob". Did you mean "imgc-blobs"?`},
		{in: "type=oci,dest=/x,compresion=zstd", err: `type=oci takes no attribute "compresion". Did you mean "compression"?`},
		{in: "type=local,dest=/x,src=/y", err: `type=local takes no attribute "src". It takes dest, tag,`},
		{in: "type=gha,scope=x,imgc-blob=false", err: `imgc knows no attribute "imgc-blob". Did you mean "imgc-blobs"?`},
		{in: "type=gha,scope=x,imgc-blobs=false", want: engine.CacheExport{Type: "gha", Mode: "min",
			Attrs: map[string]string{"type": "gha", "scope": "x", "imgc-blobs": "false"}}},
		{in: "type=registry,ref=r/a,registry.insecure=true,oci-mediatypes=true,image-manifest=true,compression=zstd,compression-level=3,force-compression=true,imgc-blobs=false",
			want: engine.CacheExport{Type: "registry", Ref: "r/a", Mode: "min", Attrs: map[string]string{"type": "registry", "ref": "r/a", "registry.insecure": "true",
				"oci-mediatypes": "true", "image-manifest": "true", "compression": "zstd", "compression-level": "3", "force-compression": "true", "imgc-blobs": "false"}}},
	} {
		got, err := engine.ParseCacheExport(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseCacheExport(%q) = %v, want an error with %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseCacheExport(%q): %v", c.in, err)
			continue
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("ParseCacheExport(%q) (-want +got):\n%s", c.in, diff)
		}
	}
}

func TestParseCacheImport(t *testing.T) {
	for _, c := range []struct {
		in    string
		want  engine.CacheImport
		local bool
		err   string
	}{
		{in: "r.example/app:cache", local: true, want: engine.CacheImport{Type: "registry", Ref: "r.example/app:cache", Attrs: map[string]string{"type": "registry", "ref": "r.example/app:cache"}}},
		{in: "type=local,src=/tmp/c", local: true, want: engine.CacheImport{Type: "local", Src: "/tmp/c", Attrs: map[string]string{"type": "local", "src": "/tmp/c"}}},
		{in: "type=s3,region=x", want: engine.CacheImport{Type: "s3", Attrs: map[string]string{"type": "s3", "region": "x"}}},
		{in: "type=local,dest=/tmp/c", err: "type=local needs src=DIR (not dest=)"},
		{in: "type=local,source=/tmp/c", err: "type=local needs src=DIR (not source=)"},
		{in: " ", err: "it is empty"},
		// What an export of the type takes is accepted, as BuildKit does:
		// a value copied from --cache-to works.
		{in: "type=registry,ref=r/a,mode=max", local: true, want: engine.CacheImport{Type: "registry", Ref: "r/a", Attrs: map[string]string{"type": "registry", "ref": "r/a", "mode": "max"}}},
		{in: "type=local,src=/x,tag=v1,digest=sha256:00", local: true, want: engine.CacheImport{Type: "local", Src: "/x", Attrs: map[string]string{"type": "local", "src": "/x", "tag": "v1", "digest": "sha256:00"}}},
		{in: "type=registry,ref=r/a,mont=false", err: `type=registry takes no attribute "mont". Did you mean "mount"?`},
	} {
		got, err := engine.ParseCacheImport(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseCacheImport(%q) = %v, want an error with %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseCacheImport(%q): %v", c.in, err)
			continue
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("ParseCacheImport(%q) (-want +got):\n%s", c.in, diff)
		}
		if got.Local() != c.local {
			t.Errorf("ParseCacheImport(%q).Local() = %v", c.in, got.Local())
		}
	}
}

// TestCacheExportScope: an export without targets (--cache-to) takes every
// target; an image's cache_to only its own.
func TestCacheExportScope(t *testing.T) {
	all := engine.CacheExport{Type: "local", Dest: "d"}
	own := engine.CacheExport{Type: "local", Dest: "d", Targets: []string{"app", "api"}}
	for _, tc := range []struct {
		exp    engine.CacheExport
		target string
		want   bool
	}{
		{all, "app", true}, {all, "other", true},
		{own, "app", true}, {own, "api", true}, {own, "other", false},
	} {
		if got := tc.exp.Exports(tc.target); got != tc.want {
			t.Errorf("export with targets %v: Exports(%q) = %v, want %v", tc.exp.Targets, tc.target, got, tc.want)
		}
	}
}
