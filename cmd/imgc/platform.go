package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/model"
	"github.com/imgc-dev/imgc/store"
)

// hostPlatform is the platform imgc builds for without --platform.
func hostPlatform() ir.Platform { return ir.Platform{OS: "linux", Architecture: hostArch()} }

// parsePlatforms reads a --platform value: one platform or several,
// comma-separated ("linux/amd64,linux/arm64"). Duplicates are dropped.
func parsePlatforms(flag string) ([]ir.Platform, hcl.Diagnostics) {
	var out []ir.Platform
	seen := map[string]bool{}
	for _, s := range strings.Split(flag, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := model.ParsePlatform(s)
		if err != nil {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid --platform value",
				Detail: fmt.Sprintf("%s.", strings.TrimSuffix(err.Error(), "."))}}
		}
		if p.OS != "linux" {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid --platform value",
				Detail: fmt.Sprintf("imgc builds Linux images only, and --platform names %s. Use linux/ARCH, such as linux/amd64 or linux/arm64.", s)}}
		}
		ip := ir.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}
		if !seen[ip.String()] {
			seen[ip.String()] = true
			out = append(out, ip)
		}
	}
	return out, nil
}

// loadPlatforms loads and compiles the configuration once per platform:
// plats (--platform), else the platforms its images declare, else the
// host's. A Dockerfile's TARGETPLATFORM and an HCL stage's platform value
// differ per platform, so each is its own load. The source returned is the
// first platform's; the diagnostics are the first platform's and the
// errors only the other platforms have.
func (e *env) loadPlatforms(f *configFlags, plats []ir.Platform, targets, tags []string, ctxDir string, opt optimizeFlags, st *store.Store, remote, repin bool) (*source, []*ir.Plan, map[string]string, hcl.Diagnostics) {
	if len(plats) > 0 {
		f.target = plats[0]
	}
	src, diags := e.load(f, targets, st, remote)
	if src == nil || src.Config == nil {
		return src, nil, nil, diags
	}
	if len(plats) == 0 {
		declared, pdiags := declaredPlatforms(src.Config, targets)
		diags = append(diags, pdiags...)
		if pdiags.HasErrors() {
			return src, nil, nil, diags
		}
		plats = declared
		if len(plats) > 0 && plats[0] != f.platform() {
			f.target = plats[0]
			src, diags = e.load(f, targets, st, remote)
			if src == nil || src.Config == nil {
				return src, nil, nil, diags
			}
		}
	}
	plan, pins, cdiags := e.compile(src, f.platform(), targets, tags, ctxDir, opt, st, remote, repin)
	diags = append(diags, cdiags...)
	if diags.HasErrors() || len(plats) < 2 {
		return src, []*ir.Plan{plan}, pins, diags
	}
	plans := []*ir.Plan{plan}
	seen := map[string]bool{}
	for _, d := range diags {
		seen[diagKey(d)] = true
	}
	for _, p := range plats[1:] {
		f.target = p
		s2, d2 := e.load(f, targets, st, remote)
		if s2 != nil && s2.Config != nil {
			var p2 *ir.Plan
			var cd hcl.Diagnostics
			p2, _, cd = e.compile(s2, f.platform(), targets, tags, ctxDir, opt, st, remote, repin)
			d2 = append(d2, cd...)
			plans = append(plans, p2)
		}
		for _, d := range d2 {
			if d.Severity == hcl.DiagError && !seen[diagKey(d)] {
				seen[diagKey(d)] = true
				d.Summary += " (" + p.String() + ")"
				diags = append(diags, d)
			}
		}
	}
	return src, plans, pins, diags
}

func diagKey(d *hcl.Diagnostic) string {
	k := d.Summary + "\x00" + d.Detail
	if d.Subject != nil {
		k += "\x00" + d.Subject.String()
	}
	return k
}

// declaredPlatforms are the platforms of the images a build makes (their
// `platforms`); images that declare different ones are an error, as one
// build makes one set of plans.
func declaredPlatforms(cfg *model.Config, targets []string) ([]ir.Platform, hcl.Diagnostics) {
	var (
		out   []ir.Platform
		first *model.Stage
	)
	for _, st := range cfg.Stages {
		if st.Kind != "image" || len(st.Platforms) == 0 {
			continue
		}
		if len(targets) > 0 && !slices.Contains(targets, st.Name) {
			continue
		}
		var pl []ir.Platform
		for _, s := range st.Platforms {
			p, err := model.ParsePlatform(s)
			if err != nil {
				continue // model.Check reported it
			}
			pl = append(pl, ir.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant})
		}
		if first == nil {
			first, out = st, pl
			continue
		}
		if !slices.Equal(pl, out) {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Images for different platforms",
				Detail:  fmt.Sprintf("The image %q is for %s and %q for %s, and one build makes every image for the same platforms. Build them separately with --target, or give --platform.", first.Name, platformList(out), st.Name, platformList(pl)),
				Subject: st.PlatformsRange.Ptr()}}
		}
	}
	return out, nil
}

func platformList(ps []ir.Platform) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, ", ")
}

// dockerOutputs refuses type=docker outputs of a multi-platform build:
// `docker load` takes one platform.
func dockerOutputs(outputs []engine.Output) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, o := range outputs {
		if o.Type == "docker" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Docker output of several platforms",
				Detail: fmt.Sprintf("--output type=docker,dest=%s writes a `docker load` tarball, which holds one platform, and this build makes an image index of several. Build with one --platform for type=docker, or write type=oci or type=oci-archive.", o.Dest)})
		}
	}
	return diags
}

// filesystemOutputs refuses a type=local or type=tar output, or an
// --iidfile, of a build that makes several images: they hold one image.
func filesystemOutputs(outputs []engine.Output, iidfile string, p *ir.Plan) hcl.Diagnostics {
	var names []string
	for _, t := range p.Targets {
		if t.Output {
			names = append(names, t.Name)
		}
	}
	var diags hcl.Diagnostics
	for _, o := range outputs {
		if (o.Type == "local" || o.Type == "tar") && len(names) > 1 {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Files of several images",
				Detail: fmt.Sprintf("--output type=%s,dest=%s writes the files of one image, and this build makes %d (%s). Build one with --target, or write them all with type=oci.", o.Type, o.Dest, len(names), strings.Join(names, ", "))})
		}
	}
	if iidfile != "" && len(names) > 1 {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Image ID of several images",
			Detail: fmt.Sprintf("--iidfile %s holds one image's digest, and this build makes %d (%s). Build one with --target, or use --metadata-file, which holds each.", iidfile, len(names), strings.Join(names, ", "))})
	}
	return diags
}

// storePlatform picks one platform of a multi-platform image in the store
// (history, inspect, run).
type storePlatform struct {
	Platform string `placeholder:"OS/ARCH" help:"For an image of several platforms (an index), the one to use (default: the host's)."`
}

func (f storePlatform) platform() (ir.Platform, error) {
	if f.Platform == "" {
		return ir.Platform{}, nil
	}
	ps, diags := parsePlatforms(f.Platform)
	if diags.HasErrors() {
		return ir.Platform{}, fmt.Errorf("--platform: %s", diags[0].Detail)
	}
	if len(ps) != 1 {
		return ir.Platform{}, fmt.Errorf("--platform names %d platforms; give one", len(ps))
	}
	return ps[0], nil
}

// platformsColumn is `imgc images`' PLATFORMS: an index's platforms, "-"
// for an image of one.
func platformsColumn(ps []string) string {
	if len(ps) == 0 {
		return "-"
	}
	return strings.Join(ps, ",")
}

// buildPlans builds one plan through eng's Build, several through its
// BuildPlatforms (an engine that cannot is an error naming --platform).
func buildPlans(e *env, eng engine.Engine, plans []*ir.Plan, opts engine.BuildOptions) (*engine.Result, error) {
	if len(plans) == 1 {
		return eng.Build(e.ctx, plans[0], opts)
	}
	pb, ok := eng.(engine.PlatformBuilder)
	if !ok {
		return nil, fmt.Errorf("this engine builds one platform at a time: give --platform one platform, or build on the local engine")
	}
	return pb.BuildPlatforms(e.ctx, plans, opts)
}
