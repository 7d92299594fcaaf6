package buildkit

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/frontend/dockerui"
	gateway "github.com/moby/buildkit/frontend/gateway/client"

	"github.com/imgc-dev/imgc/engine/imageconfig"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/ir"
)

// FrontendOptions say how a frontend builds a plan.
type FrontendOptions struct {
	// Target is the output target to return; empty means the plan's only
	// output target.
	Target string
	// NoCache is the build's --no-cache.
	NoCache bool
}

// SolveFrontend builds p inside a BuildKit frontend (gateway.v0): it lowers
// the plan as client mode does, with the build context from the session's
// "context" local, registry bases from the daemon's resolver and a base
// named by a named context (`--opt context:NAME=...`, as BuildKit's
// Dockerfile frontend takes one) from that context. It returns the output
// target's result with imgc's image config, for the caller's exporter.
func SolveFrontend(ctx context.Context, c gateway.Client, p *ir.Plan, o FrontendOptions) (*gateway.Result, error) {
	bo := c.BuildOpts()
	bc, err := dockerui.NewClient(c)
	if err != nil {
		return nil, fmt.Errorf("starting the frontend: %w", err)
	}
	now, epoch, err := frontendEpoch(bo.Opts)
	if err != nil {
		return nil, err
	}
	lw := newLowering(p, lowerOptions{noCache: o.NoCache, forced: p.ForcedLayers(), localName: "context", sessionID: bo.SessionID})
	configs := map[string]v1.ConfigFile{}
	startIntervals := map[string]time.Duration{} // see store.ImageState
	// rootBase is, per target, the config of the image at the root of its
	// base chain, whose layers the exporter keeps as they are.
	rootBase := map[string][]byte{}
	histories := map[string][]v1.History{}
	out, err := frontendOutput(p, o.Target)
	if err != nil {
		return nil, err
	}
	pl := llbPlatform(out.Platform)
	for _, t := range p.Targets {
		var base llb.State
		var cfg v1.ConfigFile
		var startInterval time.Duration
		var hist []v1.History
		switch t.Base.Kind {
		case ir.BaseTarget:
			bt := lw.targets[t.Base.Target]
			if bt == nil {
				return nil, fmt.Errorf("building %s: its base %s is not lowered", t.Name, t.Base.Target)
			}
			base = bt.state
			bcfg := configs[t.Base.Target]
			cfg, startInterval = *bcfg.DeepCopy(), startIntervals[t.Base.Target]
			hist = histories[t.Base.Target]
			rootBase[t.Name] = rootBase[t.Base.Target]
		case ir.BaseScratch:
			base = llb.Scratch()
			cfg = v1.ConfigFile{OS: t.Platform.OS, Architecture: t.Platform.Architecture, RootFS: v1.RootFS{Type: "layers"}}
		default:
			st, raw, err := frontendBase(ctx, c, bc, t)
			if err != nil {
				return nil, err
			}
			if err := json.Unmarshal(raw, &cfg); err != nil {
				return nil, fmt.Errorf("reading the config of base %s: %w", t.Base.Ref, err)
			}
			base, startInterval = st, imageio.StartIntervalOf(raw)
			hist = cfg.History
			rootBase[t.Name] = raw
		}
		if _, err := lw.target(t, base, cfg, 0); err != nil {
			return nil, err
		}
		for _, l := range t.Layers {
			h := v1.History{Created: v1.Time{Time: now}, CreatedBy: l.CreatedBy, Comment: imageconfig.HistoryComment(p.Project, l.Origin),
				EmptyLayer: len(l.Steps) == 0}
			hist = append(hist, h)
		}
		histories[t.Name] = hist
		final := *cfg.DeepCopy()
		if err := imageconfig.MergeFile(&final, t.Config); err != nil {
			return nil, fmt.Errorf("the image config of %s: %w", t.Name, err)
		}
		final.History = hist
		configs[t.Name] = final
		startIntervals[t.Name] = imageconfig.StartInterval(startInterval, t.Config)
	}
	def, err := lw.targets[out.Name].state.Marshal(ctx, llb.Platform(pl))
	if err != nil {
		return nil, fmt.Errorf("lowering %s: %w", out.Name, err)
	}
	r, err := c.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB()})
	if err != nil {
		return nil, err
	}
	cfg := configs[out.Name]
	created := now
	if epoch != nil && created.After(*epoch) {
		created = *epoch
	}
	cfg.Created = v1.Time{Time: created}
	cfg.RootFS = v1.RootFS{Type: "layers"}
	raw, err := imageio.MarshalConfig(&cfg, startIntervals[out.Name])
	if err != nil {
		return nil, err
	}
	r.AddMeta(exptypes.ExporterImageConfigKey, raw)
	if rb := rootBase[out.Name]; rb != nil {
		r.AddMeta(exptypes.ExporterImageBaseConfigKey, rb)
	}
	return r, nil
}

// frontendBase is a target's base in a frontend: the named context the
// build gives for its reference, else the image from its registry.
func frontendBase(ctx context.Context, c gateway.Client, bc *dockerui.Client, t *ir.Target) (llb.State, []byte, error) {
	pl := llbPlatform(t.Platform)
	if t.Base.Kind == ir.BaseRegistry {
		nc, err := bc.NamedContext(t.Base.Ref.String(), dockerui.ContextOpt{Platform: &pl})
		if err != nil {
			return llb.State{}, nil, fmt.Errorf("%s: base %s: %w", t.Base.Origin, t.Base.Ref, err)
		}
		if nc != nil {
			st, img, err := nc.Load(ctx)
			if err != nil {
				return llb.State{}, nil, fmt.Errorf("%s: base %s from its named context: %w", t.Base.Origin, t.Base.Ref, err)
			}
			raw, err := json.Marshal(img)
			if err != nil {
				return llb.State{}, nil, err
			}
			return *st, raw, nil
		}
		ref := t.Base.Ref.Pinned(t.Base.Digest).String()
		_, _, raw, err := c.ResolveImageConfig(ctx, ref, sourceresolver.Opt{ImageOpt: &sourceresolver.ResolveImageOpt{Platform: &pl}})
		if err != nil {
			return llb.State{}, nil, fmt.Errorf("%s: resolving base %s: %w", t.Base.Origin, ref, err)
		}
		return llb.Image(ref, llb.Platform(pl)), raw, nil
	}
	return llb.State{}, nil, fmt.Errorf("%s: the base %s is a local %s, which a frontend cannot read: give it as a named context (--opt build-arg:VAR=NAME --opt context:NAME=oci-layout://LAYOUT@sha256:... --oci-layout LAYOUT=DIR) and set the base to NAME",
		t.Base.Origin, t.Base.Ref, t.Base.Kind)
}

// frontendEpoch is the build's time: now, or SOURCE_DATE_EPOCH from the
// build args, which then also clamps the image's created time.
func frontendEpoch(opts map[string]string) (now time.Time, epoch *time.Time, err error) {
	now = time.Now().UTC()
	v, ok := opts["build-arg:SOURCE_DATE_EPOCH"]
	if !ok {
		return now, nil, nil
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return now, nil, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds since 1970", v)
	}
	t := time.Unix(sec, 0).UTC()
	return t, &t, nil
}

// frontendOutput is the one output target a frontend builds: the one named
// by --opt target, else the configuration's only image.
func frontendOutput(p *ir.Plan, target string) (*ir.Target, error) {
	var out *ir.Target
	for _, t := range p.Targets {
		if t.Output && (target == "" || target == t.Name) {
			if out != nil && target == "" {
				return nil, fmt.Errorf("the configuration makes several images (%s, %s): pick one with --opt target=NAME", out.Name, t.Name)
			}
			out = t
		}
	}
	if out == nil {
		return nil, fmt.Errorf("no output target %q in the configuration", target)
	}
	return out, nil
}

// SolveFrontendPlatforms builds plans, one per platform (each compiled
// for its platform), inside a frontend, as SolveFrontend builds one, and
// returns one result of a ref and an image config per platform, which the
// daemon's exporter makes an image index (`--opt platform=a,b`, `docker
// buildx build --platform a,b`). With one plan it is SolveFrontend.
func SolveFrontendPlatforms(ctx context.Context, c gateway.Client, plans []*ir.Plan, o FrontendOptions) (*gateway.Result, error) {
	if len(plans) == 1 {
		return SolveFrontend(ctx, c, plans[0], o)
	}
	res := gateway.NewResult()
	var ps exptypes.Platforms
	for _, p := range plans {
		out, err := frontendOutput(p, o.Target)
		if err != nil {
			return nil, err
		}
		r, err := SolveFrontend(ctx, c, p, o)
		if err != nil {
			return nil, fmt.Errorf("building for %s: %w", out.Platform, err)
		}
		ref, err := r.SingleRef()
		if err != nil {
			return nil, err
		}
		pl := llbPlatform(out.Platform)
		id := platforms.FormatAll(platforms.Normalize(pl))
		res.AddRef(id, ref)
		for _, k := range []string{exptypes.ExporterImageConfigKey, exptypes.ExporterImageBaseConfigKey} {
			if v, ok := r.Metadata[k]; ok {
				res.AddMeta(k+"/"+id, v)
			}
		}
		ps.Platforms = append(ps.Platforms, exptypes.Platform{ID: id, Platform: pl})
	}
	raw, err := json.Marshal(ps)
	if err != nil {
		return nil, err
	}
	res.AddMeta(exptypes.ExporterPlatformsKey, raw)
	return res, nil
}
