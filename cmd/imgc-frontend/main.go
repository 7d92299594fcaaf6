// Command imgc-frontend is imgc as a BuildKit frontend (gateway.v0): run
// from an image by buildkitd (`buildctl build --frontend gateway.v0 --opt
// source=IMAGE`, or a first line `# syntax=IMAGE` in an .image.hcl file
// built by `docker buildx build`), it reads the configuration from the
// build's "dockerfile" local and the files it copies from the "context"
// local, compiles it as `imgc build` does, and solves it as
// `imgc build --builder` does. See docs/buildkit.md.
package main

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/buildkit/client/llb"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/frontend/gateway/grpcclient"
	"github.com/moby/buildkit/util/appcontext"

	"github.com/imgc-dev/imgc/compiler"
	"github.com/imgc-dev/imgc/engine/buildkit"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/model"
)

func main() {
	if err := grpcclient.RunFromEnvironment(appcontext.Context(), build); err != nil {
		fmt.Fprintf(os.Stderr, "imgc-frontend: %v\n", err)
		os.Exit(1)
	}
}

// configFiles are what the frontend reads from the "dockerfile" local.
var configFiles = []string{"*.image.hcl", "imgc.lock.hcl", ".dockerignore", ".imgcignore"}

func build(ctx context.Context, c gateway.Client) (*gateway.Result, error) {
	bo := c.BuildOpts()
	opts := bo.Opts
	// The frontend image is the binary alone on scratch: no /tmp yet.
	if err := os.MkdirAll(os.TempDir(), 0o1777); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "imgc-frontend-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// The context first, then the configuration over it: with the usual
	// `--local context=. --local dockerfile=.` they are one directory, and
	// the configuration's relative paths (copy sources, history comments)
	// are as in client mode.
	if err := fetch(ctx, c, llb.Local("context", llb.SessionID(bo.SessionID), llb.SharedKeyHint("imgc-frontend-context")), dir); err != nil {
		return nil, fmt.Errorf("reading the build context: %w", err)
	}
	if err := fetch(ctx, c, llb.Local("dockerfile", llb.SessionID(bo.SessionID), llb.IncludePatterns(configFiles),
		llb.SharedKeyHint("imgc-frontend-config")), dir); err != nil {
		return nil, fmt.Errorf("reading the configuration: %w", err)
	}
	cfgPath := dir
	if f := opts["filename"]; f != "" && f != "Dockerfile" {
		cfgPath = filepath.Join(dir, filepath.Clean("/"+f))
	}
	vars := map[string]string{}
	for k, v := range opts {
		if name, ok := strings.CutPrefix(k, "build-arg:"); ok && name != "SOURCE_DATE_EPOCH" {
			vars[name] = v
		}
	}
	var targets []string
	if t := opts["target"]; t != "" {
		targets = []string{t}
	}
	pins, _ := lang.ReadLock(dir)
	// One plan per platform of --opt platform (buildx's --platform), else
	// one for the daemon's, which runs this frontend.
	plats := []string{""}
	if v := opts["platform"]; v != "" {
		plats = strings.Split(v, ",")
	}
	var plans []*ir.Plan
	for _, ps := range plats {
		var pl ir.Platform
		if ps = strings.TrimSpace(ps); ps != "" {
			p, err := model.ParsePlatform(ps)
			if err != nil {
				return nil, fmt.Errorf("--opt platform: %w", err)
			}
			pl = ir.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}
		}
		cfg, diags := lang.Load(cfgPath, lang.Options{Vars: lang.FlagVars(vars), Platform: ps})
		if diags.HasErrors() {
			return nil, fmt.Errorf("loading the configuration: %s", diags.Error())
		}
		plan, diags := compiler.Compile(cfg, compiler.Options{Targets: targets, Context: dir, Project: cfgPath, Pins: pins, Platform: pl})
		if diags.HasErrors() {
			return nil, fmt.Errorf("compiling the configuration: %s", diags.Error())
		}
		plans = append(plans, plan)
	}
	_, noCache := opts["no-cache"]
	return buildkit.SolveFrontendPlatforms(ctx, c, plans, buildkit.FrontendOptions{Target: opts["target"], NoCache: noCache})
}

// fetch solves st and writes its files into dir.
func fetch(ctx context.Context, c gateway.Client, st llb.State, dir string) error {
	def, err := st.Marshal(ctx)
	if err != nil {
		return err
	}
	res, err := c.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB()})
	if err != nil {
		return err
	}
	ref, err := res.SingleRef()
	if err != nil {
		return err
	}
	return copyTree(ctx, ref, "/", dir)
}

func copyTree(ctx context.Context, ref gateway.Reference, from, dir string) error {
	entries, err := ref.ReadDir(ctx, gateway.ReadDirRequest{Path: from})
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := path.Join(from, e.Path)
		dst := filepath.Join(dir, filepath.FromSlash(p))
		mode := os.FileMode(e.Mode)
		switch {
		case mode.IsDir():
			if err := os.MkdirAll(dst, mode.Perm()|0o700); err != nil {
				return err
			}
			if err := copyTree(ctx, ref, p, dir); err != nil {
				return err
			}
		case mode&os.ModeSymlink != 0:
			os.Remove(dst)
			if err := os.Symlink(e.Linkname, dst); err != nil {
				return err
			}
		case mode.IsRegular():
			data, err := ref.ReadFile(ctx, gateway.ReadRequest{Filename: p})
			if err != nil {
				return err
			}
			if err := os.WriteFile(dst, data, mode.Perm()); err != nil {
				return err
			}
			os.Chmod(dst, mode.Perm())
		}
	}
	return nil
}
