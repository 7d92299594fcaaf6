package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/lang/loader"
	"github.com/imgc-dev/imgc/model"
)

// planFileFormat marks a file `imgc plan -out` wrote.
const planFileFormat = "imgc-plan-1"

// maxPlanFile bounds what readPlanFile reads: a plan lists every copied
// file with its digest, so it may be far larger than a configuration.
const maxPlanFile = 256 << 20

// savedPlan is what `imgc plan -out FILE` writes: the command line that
// made the plan (paths made absolute) and what the plan builds, keys
// first. `imgc build FILE` loads and compiles the configuration again from
// that command line and builds only when every key, base and image config
// is what the file says.
type savedPlan struct {
	Format string    `json:"format"`
	Args   savedArgs `json:"args"`
	// Targets is the plan of a build for one platform; Platforms holds
	// one plan per platform when the build makes several (an index).
	Targets   []savedTarget       `json:"targets"`
	Platforms []savedPlatformPlan `json:"platforms,omitempty"`
}

// savedPlatformPlan is one platform's plan of a multi-platform build.
type savedPlatformPlan struct {
	Platform string        `json:"platform"`
	Targets  []savedTarget `json:"targets"`
}

type savedArgs struct {
	Path       string           `json:"path,omitempty"`
	File       string           `json:"file,omitempty"`
	Context    string           `json:"context,omitempty"`
	Vars       []lang.VarSource `json:"vars,omitempty"`
	Targets    []string         `json:"targets,omitempty"`
	Tags       []string         `json:"tags,omitempty"`
	Platform   string           `json:"platform,omitempty"`
	Optimize   string           `json:"optimize,omitempty"`
	NoOptimize bool             `json:"no_optimize,omitempty"`
	Pass       []string         `json:"pass,omitempty"`
	// BuildContexts are --build-context values, directories made absolute.
	BuildContexts []string `json:"build_contexts,omitempty"`
}

// savedBase is a target's base as saved: the reference as text.
type savedBase struct {
	Kind   ir.BaseKind `json:"kind"`
	Ref    string      `json:"ref,omitempty"`
	Digest string      `json:"digest,omitempty"`
	Target string      `json:"target,omitempty"`
	Key    ir.CacheKey `json:"key"`
}

func saveBase(b ir.Base) savedBase {
	sb := savedBase{Kind: b.Kind, Digest: b.Digest, Target: b.Target, Key: b.Key}
	if b.Kind != ir.BaseScratch && b.Kind != ir.BaseTarget {
		sb.Ref = b.Ref.String()
	}
	return sb
}

type savedTarget struct {
	Name   string          `json:"name"`
	Output bool            `json:"output"`
	Base   savedBase       `json:"from"`
	Layers []*ir.Layer     `json:"layers"`
	Config json.RawMessage `json:"config"`
	Tags   []string        `json:"tags,omitempty"`
}

// writePlanFile saves plans (one per platform), made from the command
// line of c, to path. The file holds --var values as given, so it is
// written for its owner only.
func (c *planCmd) writePlanFile(path string, plans []*ir.Plan) error {
	vars, _ := c.varSources()
	args := savedArgs{
		Path: absOrEmpty(c.Path), File: absOrEmpty(c.File), Context: absOrEmpty(c.Context), BuildContexts: absContexts(c.BuildContext),
		Targets: c.Target, Tags: c.Tag, Platform: c.Platform, Optimize: c.Optimize, NoOptimize: c.NoOptimize, Pass: c.Pass,
	}
	if c.Path == "" {
		args.Path = absOrEmpty(".")
	}
	for _, v := range vars {
		if v.Kind == lang.VarFile {
			v.Path = absOrEmpty(v.Path)
		}
		args.Vars = append(args.Vars, v)
	}
	sp := savedPlan{Format: planFileFormat, Args: args}
	for _, plan := range plans {
		targets, err := saveTargets(plan)
		if err != nil {
			return err
		}
		if len(plans) == 1 {
			sp.Targets = targets
			break
		}
		sp.Platforms = append(sp.Platforms, savedPlatformPlan{Platform: engine.PlatformOf(plan).String(), Targets: targets})
	}
	data, err := json.MarshalIndent(sp, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the plan: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing the plan: %w", err)
	}
	return nil
}

func saveTargets(plan *ir.Plan) ([]savedTarget, error) {
	var out []savedTarget
	for _, t := range plan.Targets {
		cfg, err := json.Marshal(t.Config)
		if err != nil {
			return nil, fmt.Errorf("encoding the plan: %w", err)
		}
		out = append(out, savedTarget{Name: t.Name, Output: t.Output, Base: saveBase(t.Base), Layers: t.Layers, Config: cfg, Tags: t.Tags})
	}
	return out, nil
}

func absOrEmpty(p string) string {
	if p == "" {
		return ""
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// readPlanFile reads path as a saved plan; nil when it is not one (a
// configuration, a Dockerfile, a directory).
func readPlanFile(path string) (*savedPlan, hcl.Diagnostics) {
	if path == "" || strings.HasSuffix(path, lang.FileSuffix) || loader.IsDockerfile(path) {
		return nil, nil
	}
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxPlanFile {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		return nil, nil
	}
	var sp savedPlan
	if err := json.Unmarshal(data, &sp); err != nil || sp.Format != planFileFormat {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unreadable plan file",
			Detail: fmt.Sprintf("%s is not a plan that this imgc wrote with `imgc plan -out`. Write it again with imgc plan -out %s.", path, path)}}
	}
	return &sp, nil
}

// savedPlan reads the saved plan c.Path names, if it does, and takes the
// configuration's command line from it; flags that would change what the
// plan builds are refused.
func (c *buildCmd) savedPlan() (*savedPlan, hcl.Diagnostics) {
	if c.File != "" {
		return nil, nil
	}
	sp, diags := readPlanFile(c.Path)
	if sp == nil {
		return nil, diags
	}
	// Proxy arguments change how steps reach the network, not what they
	// build (no key has them): a saved plan takes them from the build.
	proxies := c.proxyEnv()
	onlyProxies := func(vals varFlags) bool {
		for _, v := range vals {
			if name, _, _ := strings.Cut(v.value, "="); !model.IsProxyArg(strings.TrimSpace(name)) {
				return false
			}
		}
		return true
	}
	var given []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"--var", !onlyProxies(c.Var)}, {"--build-arg", !onlyProxies(c.BuildArg)}, {"--var-file", len(c.VarFile) > 0},
		{"--context", c.Context != ""}, {"--build-context", len(c.BuildContext) > 0}, {"--target", len(c.Target) > 0}, {"--tag", len(c.Tag) > 0}, {"--platform", c.Platform != ""},
		{"--optimize", c.Optimize != ""}, {"--no-optimize", c.NoOptimize}, {"--pass", len(c.Pass) > 0}, {"--pull", c.Pull},
	} {
		if f.set {
			given = append(given, f.name)
		}
	}
	if len(given) > 0 {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Flags conflict with a saved plan",
			Detail: fmt.Sprintf("%s fixes what is built, and %s would change it. Give %s to imgc plan -out instead, or build the configuration itself.", c.Path, strings.Join(given, ", "), strings.Join(given, ", "))}}
	}
	a := sp.Args
	c.configFlags = configFlags{Path: a.Path, File: a.File, Context: a.Context, BuildContext: a.BuildContexts, Platform: a.Platform, sources: a.Vars, proxies: proxies}
	c.optimizeFlags = optimizeFlags{Optimize: a.Optimize, NoOptimize: a.NoOptimize, Pass: a.Pass}
	c.Target, c.Tag = a.Targets, a.Tags
	return sp, nil
}

// stale compares the plans compiled now (one per platform) with the saved
// ones and names every input that moved: nothing is built unless they are
// the same plans, for the same platforms.
func (sp *savedPlan) stale(plans []*ir.Plan) hcl.Diagnostics {
	var changes []string
	if len(sp.Platforms) == 0 {
		if len(plans) != 1 {
			changes = append(changes, fmt.Sprintf("the plan was saved for one platform, and the configuration is now built for %d", len(plans)))
		} else {
			changes = targetChanges(sp.Targets, plans[0])
		}
	} else {
		saved := map[string][]savedTarget{}
		for _, pp := range sp.Platforms {
			saved[pp.Platform] = pp.Targets
		}
		for _, plan := range plans {
			pl := engine.PlatformOf(plan).String()
			targets, ok := saved[pl]
			if !ok {
				changes = append(changes, fmt.Sprintf("%s is a new platform", pl))
				continue
			}
			delete(saved, pl)
			for _, c := range targetChanges(targets, plan) {
				changes = append(changes, pl+": "+c)
			}
		}
		for _, pp := range sp.Platforms {
			if _, gone := saved[pp.Platform]; gone {
				changes = append(changes, fmt.Sprintf("%s is no longer built", pp.Platform))
			}
		}
	}
	if len(changes) == 0 {
		return nil
	}
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Saved plan is stale",
		Detail: fmt.Sprintf("Inputs changed since the plan was saved, so building it would not build what it says:\n  - %s\nNothing was built or tagged. Run imgc plan -out again, review it, and build the new plan.", strings.Join(changes, "\n  - "))}}
}

// targetChanges names what moved between a platform's saved targets and
// its plan now.
func targetChanges(saved []savedTarget, plan *ir.Plan) []string {
	now := map[string]*ir.Target{}
	for _, t := range plan.Targets {
		now[t.Name] = t
	}
	var changes []string
	seen := map[string]bool{}
	for _, st := range saved {
		seen[st.Name] = true
		t := now[st.Name]
		if t == nil {
			changes = append(changes, fmt.Sprintf("%s is no longer in the plan", st.Name))
			continue
		}
		changes = append(changes, st.changes(t)...)
	}
	for _, t := range plan.Targets {
		if !seen[t.Name] {
			changes = append(changes, fmt.Sprintf("%s %s is new in the plan", t.Kind, t.Name))
		}
	}
	return changes
}

// changes names what moved in the target between the saved plan and now:
// its base, the first layer whose key moved and why, its config and tags.
func (st savedTarget) changes(t *ir.Target) []string {
	var out []string
	if now := saveBase(t.Base); st.Base.Key != now.Key {
		switch {
		case now.Kind == ir.BaseTarget:
			out = append(out, fmt.Sprintf("%s: its base %s changed", t.Name, now.Target))
		case st.Base.Ref != now.Ref:
			out = append(out, fmt.Sprintf("%s: the base was %s, now %s", t.Name, orNone(st.Base.Ref), orNone(now.Ref)))
		default:
			out = append(out, fmt.Sprintf("%s: the base %s moved (%s, now %s)", t.Name, now.Ref, orNone(st.Base.Digest), orNone(now.Digest)))
		}
	}
	if len(st.Layers) != len(t.Layers) {
		out = append(out, fmt.Sprintf("%s: %d layers, now %d", t.Name, len(st.Layers), len(t.Layers)))
	} else {
		for i, l := range t.Layers {
			if st.Layers[i].Key != l.Key {
				// The layer's own changes: a moved base has its own line.
				why := ir.InputReason(st.Layers[i], l)
				if why == "" {
					why = ir.MissReason(st.Layers[i], l, false)
				}
				out = append(out, fmt.Sprintf("%s: layer %d %q (%s): %s", t.Name, i+1, l.Name, relPath(l.Origin.String()), why))
				break
			}
		}
	}
	// The file holds the config indented (MarshalIndent indents a raw
	// message too): compare it compacted.
	var saved bytes.Buffer
	if cfg, err := json.Marshal(t.Config); err == nil && (json.Compact(&saved, st.Config) != nil || !bytes.Equal(cfg, saved.Bytes())) {
		out = append(out, fmt.Sprintf("%s: the image config (entrypoint, env, labels...) changed", t.Name))
	}
	if strings.Join(st.Tags, "\x00") != strings.Join(t.Tags, "\x00") || st.Output != t.Output {
		out = append(out, fmt.Sprintf("%s: its tags or outputs changed", t.Name))
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// absContexts are --build-context values with their directories made
// absolute, so that a saved plan reads the same ones from anywhere.
func absContexts(values []string) []string {
	var out []string
	for _, v := range values {
		name, value, ok := strings.Cut(v, "=")
		if ok && value != "" && !strings.Contains(value, "://") {
			v = name + "=" + absOrEmpty(value)
		}
		out = append(out, v)
	}
	return out
}
