package buildkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sync/errgroup"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/ir"
)

// exportCaches exports the build's shared caches (--cache-to, an image's
// cache_to) once the builds are solved: one more solve per set of exported
// targets, whose result holds every exported output target of every
// platform, so that BuildKit writes one cache manifest covering them all,
// as buildx's single multi-platform solve does. (One export per solved
// target, to one reference, would leave only the last solve's cache: each
// export replaces the reference's manifest.) Everything is solved by
// then, so the solve only reuses the daemon's cache. An inline cache goes
// with each target's image instead (see build.solve).
func (e *Engine) exportCaches(ctx context.Context, c *client.Client, builds []*build, o engine.BuildOptions, native ir.Platform) ([]engine.CacheExport, error) {
	groups := map[string][]engine.CacheExport{}
	var order []string
	for _, ce := range o.CacheTo {
		if ce.Type == "inline" {
			continue
		}
		key := strings.Join(ce.Targets, "\x00")
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], ce)
	}
	var exported []engine.CacheExport
	for _, key := range order {
		done, err := e.exportCache(ctx, c, builds, o, native, groups[key])
		if err != nil {
			return nil, err
		}
		exported = append(exported, done...)
	}
	return exported, nil
}

// exportCache solves, in one solve, every output target of builds that
// exps export, and exports exps from that solve. It returns the exports
// done: none when one with ignore-error=true failed (BuildKit does not
// say which).
func (e *Engine) exportCache(ctx context.Context, c *client.Client, builds []*build, o engine.BuildOptions, native ir.Platform, exps []engine.CacheExport) ([]engine.CacheExport, error) {
	var results []cacheResult
	served := newServedStore(nil)
	locals := map[string]string{}
	for _, b := range builds {
		for _, t := range b.p.Targets {
			if !t.Output || !exps[0].Exports(t.Name) {
				continue
			}
			def, err := marshal(ctx, b.lw.targets[t.Name].state, t.Platform)
			if err != nil {
				return nil, fmt.Errorf("lowering %s: %w", t.Name, err)
			}
			pl := t.Platform
			if pl.OS == "" {
				pl = native
			}
			results = append(results, cacheResult{id: t.Name + "@" + pl.String(), platform: pl, def: def})
		}
		served.Store = b.served.Store
		b.served.mu.Lock()
		for d := range b.served.allowed {
			served.allowed[d] = true
		}
		b.served.mu.Unlock()
		for name, dir := range b.lw.locals {
			locals[name] = dir
		}
	}
	if len(results) == 0 {
		return nil, nil
	}
	var names []string
	for _, ce := range exps {
		names = append(names, ce.String())
	}
	what := strings.Join(names, ", ")
	opt := client.SolveOpt{OCIStores: map[string]content.Store{ociStoreID: served}, FrontendAttrs: map[string]string{}}
	opt.CacheExports, opt.CacheImports = cacheEntries(exps, o.CacheFrom)
	if len(locals) > 0 {
		mounts, err := localMounts(locals)
		if err != nil {
			return nil, err
		}
		opt.LocalMounts = mounts
	}
	attach, err := buildAttachables(o)
	if err != nil {
		return nil, err
	}
	auth := builds[0].auth
	for _, ce := range opt.CacheExports {
		if ce.Type == "registry" {
			auth.allow(ce.Attrs["ref"])
		}
	}
	opt.Session = append(attach, auth)
	opt.AllowedEntitlements = entitlements(o)
	buildFunc := solveAll(results)
	ch := make(chan *client.SolveStatus)
	done := make(chan struct{})
	// An export with ignore-error=true that fails ends the solve well; its
	// vertex says what failed.
	var failed []string
	go func() {
		seen := map[string]bool{}
		for st := range ch {
			for _, v := range st.Vertexes {
				if v.Error != "" && strings.Contains(v.Name, "export") && !seen[v.Name+v.Error] {
					seen[v.Name+v.Error] = true
					failed = append(failed, fmt.Sprintf("%s: %s", v.Name, cleanError(errors.New(v.Error))))
				}
			}
		}
		close(done)
	}()
	_, err = c.Build(ctx, opt, "imgc", buildFunc, ch)
	<-done
	if err != nil {
		if rerr := e.refused(err); rerr != nil {
			return nil, rerr
		}
		return nil, fmt.Errorf("exporting the cache to %s: %s", what, cleanError(err))
	}
	if len(failed) > 0 {
		builds[0].prog.emit(engine.Event{Kind: "warning", Line: fmt.Sprintf("exporting the cache to %s failed (ignore-error=true): %s", what, strings.Join(failed, "; "))})
		return nil, nil
	}
	for _, ce := range exps {
		builds[0].prog.emit(engine.Event{Kind: "export", Line: fmt.Sprintf("cache %s (mode=%s, %s)", ce, ce.Mode, count(len(results), "result"))})
	}
	return exps, nil
}

// cacheResult is one output target of one platform in a cache export's
// solve: its result's ID, platform and definition.
type cacheResult struct {
	id       string
	platform ir.Platform
	def      *llb.Definition
}

// solveAll is the build function of a cache export's solve: it solves
// every result at once and returns them as one result, several mapped to
// their platforms as a multi-platform frontend returns them (BuildKit
// refuses several results without that mapping).
func solveAll(results []cacheResult) gateway.BuildFunc {
	return func(ctx context.Context, gw gateway.Client) (*gateway.Result, error) {
		var imports []gateway.CacheOptionsEntry
		if v := gw.BuildOpts().Opts["cache-imports"]; v != "" {
			if err := json.Unmarshal([]byte(v), &imports); err != nil {
				return nil, fmt.Errorf("reading the cache imports: %w", err)
			}
		}
		refs := make([]gateway.Reference, len(results))
		eg, ectx := errgroup.WithContext(ctx)
		for i, r := range results {
			eg.Go(func() error {
				// The targets' solves made every vertex of this one (also
				// those marked to ignore the cache: --no-cache, cache =
				// false), and their results are in the daemon's cache: a
				// vertex run again would export another result than the
				// image's. The mark is metadata, not part of a vertex's
				// digest.
				def := r.def.ToPB()
				for _, md := range def.Metadata {
					if md != nil {
						md.IgnoreCache = false
					}
				}
				req := gateway.SolveRequest{Definition: def, CacheImports: imports}
				res, err := gw.Solve(ectx, req)
				if err != nil {
					return err
				}
				refs[i], err = res.SingleRef()
				return err
			})
		}
		if err := eg.Wait(); err != nil {
			return nil, err
		}
		res := gateway.NewResult()
		if len(results) == 1 {
			res.SetRef(refs[0])
			return res, nil
		}
		var ps exptypes.Platforms
		for i, r := range results {
			res.AddRef(r.id, refs[i])
			ps.Platforms = append(ps.Platforms, exptypes.Platform{ID: r.id, Platform: llbPlatform(r.platform)})
		}
		raw, err := json.Marshal(ps)
		if err != nil {
			return nil, err
		}
		res.AddMeta(exptypes.ExporterPlatformsKey, raw)
		return res, nil
	}
}

// localMounts serves each local source's directory (the build context, a
// module's directory or a named context), opened once per directory.
func localMounts(locals map[string]string) (map[string]fsutil.FS, error) {
	byDir := map[string]fsutil.FS{}
	out := map[string]fsutil.FS{}
	for name, dir := range locals {
		fs, ok := byDir[dir]
		if !ok {
			var err error
			if fs, err = fsutil.NewFS(dir); err != nil {
				return nil, fmt.Errorf("opening the build context %s: %w", dir, err)
			}
			byDir[dir] = fs
		}
		out[name] = fs
	}
	return out, nil
}
