package main

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/model"
)

// configCaches merges the shared caches the built images declare
// (`cache_from`, `cache_to`) with the flags', as bake merges a target's
// with the command line's:
//   - --cache-from adds to the images' cache_from: the flags' caches are
//     consulted first, then each image's in declaration order, each cache
//     once;
//   - --cache-to replaces every image's cache_to: a build given
//     --cache-to exports the whole build there and nowhere else.
//
// An image's cache_to exports that image's layers (see
// engine.CacheExport.Targets); images naming the same destination share one
// export of all of them, which must then have one mode. The images are
// those the build makes: every image, or those --target names. A relative
// directory (type=local or oci) starts at the configuration's directory
// dir, as a relative oci: base does; a flag's starts where imgc runs.
func configCaches(cfg *model.Config, dir string, targets []string, from []engine.CacheImport, to []engine.CacheExport) ([]engine.CacheImport, []engine.CacheExport, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	seen := map[string]bool{}
	for _, c := range from {
		seen[c.String()] = true
	}
	flagTo := len(to) > 0
	byDest := map[string]int{}
	for _, st := range cfg.Stages {
		if st.Kind != model.KindImage || (len(targets) > 0 && !slices.Contains(targets, st.Name)) {
			continue
		}
		for _, v := range st.CacheFrom {
			imp, err := engine.ParseCacheImport(v)
			if err != nil {
				diags = append(diags, cacheDiag("Invalid cache_from value", err, "type=registry,ref=REG/REPO:TAG or type=local,src=DIR", st.CacheFromRange))
				continue
			}
			if imp.Type != "registry" && imp.Src != "" && !filepath.IsAbs(imp.Src) {
				imp.Src = filepath.Join(dir, imp.Src)
				imp.Attrs["src"] = imp.Src
			}
			if !seen[imp.String()] {
				seen[imp.String()] = true
				from = append(from, imp)
			}
		}
		for _, v := range st.CacheTo {
			exp, err := engine.ParseCacheExport(v)
			if err != nil {
				diags = append(diags, cacheDiag("Invalid cache_to value", err, "type=registry,ref=REG/REPO:TAG[,mode=max] or type=local,dest=DIR[,mode=max]", st.CacheToRange))
				continue
			}
			if flagTo {
				continue
			}
			if exp.Type != "registry" && exp.Dest != "" && !filepath.IsAbs(exp.Dest) {
				exp.Dest = filepath.Join(dir, exp.Dest)
				exp.Attrs["dest"] = exp.Dest
			}
			i, ok := byDest[exp.String()]
			if !ok {
				exp.Targets = []string{st.Name}
				byDest[exp.String()] = len(to)
				to = append(to, exp)
				continue
			}
			if to[i].Mode != exp.Mode {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Conflicting cache exports",
					Detail: fmt.Sprintf("The image %q exports its cache to %s with mode=%s, and %q to the same with mode=%s; images sharing a cache share one export, of one mode. Give them the same mode, or different destinations.",
						to[i].Targets[0], exp, to[i].Mode, st.Name, exp.Mode),
					Subject: st.CacheToRange.Ptr()})
				continue
			}
			to[i].Targets = append(to[i].Targets, st.Name)
		}
	}
	return from, to, diags
}

func cacheDiag(summary string, err error, want string, rng hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary,
		Detail: fmt.Sprintf("%v. Write %s, in BuildKit's words as the --cache-from and --cache-to flags take them.", err, want), Subject: rng.Ptr()}
}

// localCacheTypes refuses, before anything runs, the caches of BuildKit's
// other types on the local engine.
func localCacheTypes(from []engine.CacheImport, to []engine.CacheExport) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, p := range engine.NotLocal(from, to) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cache type of BuildKit's", Detail: p})
	}
	return diags
}

// insecureCaches sets the registries of the caches given
// registry.insecure=true insecure, for imgc's own requests to them (the
// local engine's caches, the BuildKit engine's blob maps) as BuildKit's
// are for the daemon's.
func insecureCaches(from []engine.CacheImport, to []engine.CacheExport) error {
	var refs []string
	for _, c := range from {
		if c.Type == "registry" && c.Attrs["registry.insecure"] == "true" {
			refs = append(refs, c.Ref)
		}
	}
	for _, c := range to {
		if c.Type == "registry" && c.Attrs["registry.insecure"] == "true" {
			refs = append(refs, c.Ref)
		}
	}
	for _, r := range refs {
		if err := imageio.AddInsecureRegistry(r); err != nil {
			return fmt.Errorf("cache reference %q: %w", r, err)
		}
	}
	return nil
}
