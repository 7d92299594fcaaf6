package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/compiler"
	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
)

type buildCmd struct {
	configFlags
	optimizeFlags
	cacheFlags
	Target      []string `sep:"none" placeholder:"NAME" help:"Build only this stage or image and what it needs (repeatable)."`
	Tag         []string `short:"t" sep:"none" placeholder:"NAME:TAG" help:"Tag the image (repeatable), like docker build -t; with several images, use --target to pick one."`
	Output      []string `sep:"none" short:"o" placeholder:"type=oci,dest=DIR" help:"Also write the images to type=oci,dest=DIR | type=oci-archive,dest=FILE | type=docker,dest=FILE.tar (repeatable)."`
	Push        bool     `help:"Push each image to the registries its tags name."`
	NoCache     bool     `name:"no-cache" help:"Rebuild every layer; reuse nothing from the cache."`
	Secret      []string `sep:"none" placeholder:"id=ID,src=FILE" help:"Expose a file to mount \"secret\" blocks (repeatable). Never stored in a layer, the history or a key."`
	Progress    string   `enum:"auto,tty,plain,json" default:"auto" help:"Progress output: auto, tty, plain or json."`
	Locked      bool     `help:"Fail instead of moving a base image pin in imgc.lock.hcl, or when a base is not pinned."`
	Pull        bool     `help:"Resolve base image tags again, moving their pins in imgc.lock.hcl to what the registry serves now."`
	Compression string   `enum:"gzip,zstd" default:"gzip" help:"Layer compression: gzip or zstd."`
	Allow       []string `sep:"none" placeholder:"ENTITLEMENT" help:"Grant an entitlement (repeatable): network.host lets steps with network = \"host\" (RUN --network=host) use the host's network."`
}

func (c *buildCmd) Run(e *env) error {
	outputs, secrets, diags := c.parseOutputsAndSecrets()
	defer removeEnvSecrets(secrets)
	if _, odiags := c.disabled(); odiags.HasErrors() {
		return e.report(nil, append(diags, odiags...))
	}
	plats, pdiags := parsePlatforms(c.Platform)
	if pdiags.HasErrors() {
		return e.report(nil, pdiags)
	}
	store, err := c.open()
	if err != nil {
		return err
	}
	src, plans, pins, ldiags := e.loadPlatforms(&c.configFlags, plats, c.Target, c.Context, c.optimizeFlags, store, true, c.Pull)
	diags = append(diags, ldiags...)
	if src == nil || src.cfg == nil {
		return e.report(filesOf(src), diags)
	}
	if len(plans) > 1 {
		diags = append(diags, dockerOutputs(outputs)...)
	}
	if err := e.report(src.files, diags); err != nil {
		if onlyUnreachable(diags) {
			return exitError{exitFailed}
		}
		return err
	}
	for _, plan := range plans {
		if err := addTags(plan, c.Tag); err != nil {
			return e.report(src.files, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Ambiguous --tag", Detail: err.Error()}})
		}
		if diags := missingSecrets(plan, secrets); diags.HasErrors() {
			return e.report(src.files, diags)
		}
	}
	plan := plans[0]
	allowHost, adiags := entitlements(c.Allow)
	if !adiags.HasErrors() && !allowHost {
		adiags = hostNetworkSteps(plan)
	}
	if adiags.HasErrors() {
		return e.report(src.files, adiags)
	}
	if c.Locked {
		for _, plan := range plans {
			if err := checkLocked(plan, pins); err != nil {
				return e.report(src.files, err)
			}
		}
	}

	opts := engine.BuildOptions{
		NoCache:     c.NoCache,
		Secrets:     secrets,
		Outputs:     outputs,
		Push:        c.Push,
		Compression: c.Compression,
		Context:     contextDir(src, c.Context),

		AllowNetworkHost: allowHost,
	}
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		sec, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return e.report(nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid SOURCE_DATE_EPOCH",
				Detail: fmt.Sprintf("SOURCE_DATE_EPOCH=%q is not a number of seconds since 1970. Set it to an integer such as $(git log -1 --format=%%ct).", v)}})
		}
		t := time.Unix(sec, 0).UTC()
		opts.SourceDateEpoch = &t
	}
	prog := newProgress(e, c.Progress)
	opts.Progress = prog.event
	start := time.Now()
	var eng engine.Engine = local.New(store)
	var res *engine.Result
	if len(plans) > 1 {
		res, err = eng.(engine.PlatformBuilder).BuildPlatforms(e.ctx, plans, opts)
	} else {
		res, err = eng.Build(e.ctx, plan, opts)
	}
	prog.close()
	if err != nil {
		if prog.mode == "json" {
			return prog.failure(err)
		}
		return e.reportBuildError(src.files, err)
	}
	if !src.dockerfile && !c.Locked && len(res.Pins) > 0 {
		resolved := map[string]string{}
		for _, plan := range plans {
			maps.Copy(resolved, registryPins(plan, res.Pins))
		}
		if err := updateLock(src.dir, pins, resolved); err != nil {
			return err
		}
	}
	for _, img := range res.Images {
		name := img.Target
		if len(img.Tags) > 0 {
			name = strings.Join(img.Tags, ", ")
		}
		fmt.Fprintf(e.stdout, "%s %s\n", img.Digest, name)
		for _, p := range img.Platforms {
			fmt.Fprintf(e.stdout, "  %s %s\n", p.Digest, p.Platform)
		}
	}
	if c.Progress != "json" {
		fmt.Fprintf(e.stderr, "Built %d %s in %s.\n", len(res.Images), plural(len(res.Images), "image", "images"), time.Since(start).Round(time.Millisecond))
	}
	return nil
}

func (c *buildCmd) parseOutputsAndSecrets() ([]engine.Output, map[string]string, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var outputs []engine.Output
	for _, o := range c.Output {
		out, odiags := parseOutput(o)
		diags = append(diags, odiags...)
		if !odiags.HasErrors() {
			outputs = append(outputs, out)
		}
	}
	secrets := map[string]string{}
	for _, s := range c.Secret {
		sec, sdiags := parseSecret(s)
		diags = append(diags, sdiags...)
		if sdiags.HasErrors() {
			continue
		}
		src := sec.src
		if sec.env != "" {
			// env=NAME: the secret's value is an environment variable,
			// mounted from a file in memory (tmpfs) that the build removes.
			f, err := os.CreateTemp(secretTempDir(), envSecretPrefix+"*")
			if err == nil {
				f.Chmod(0o600)
				f.WriteString(os.Getenv(sec.env))
				f.Close()
				src = f.Name()
			}
		}
		if _, err := os.Stat(src); err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unreadable secret file",
				Detail: fmt.Sprintf("The secret %q reads %s: %v. Point src at an existing file.", sec.id, src, err)})
			continue
		}
		secrets[sec.id] = src
	}
	return outputs, secrets, diags
}

const envSecretPrefix = "imgc-env-secret-"

// secretTempDir is where env= secrets are written for the build: /dev/shm,
// a tmpfs, so they never reach a disk; the system's temporary directory
// where there is none.
func secretTempDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

// removeEnvSecrets removes the files parseOutputsAndSecrets wrote for env=
// secrets.
func removeEnvSecrets(secrets map[string]string) {
	for _, p := range secrets {
		if filepath.Dir(p) == secretTempDir() && strings.HasPrefix(filepath.Base(p), envSecretPrefix) {
			os.Remove(p)
		}
	}
}

// parseOutput reads an --output value: type=oci|oci-archive|docker,dest=PATH,
// or a bare path (an OCI layout directory, like `docker build -o DIR`).
func parseOutput(o string) (engine.Output, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	kv := parseKV(o)
	typ, dest := kv["type"], kv["dest"]
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		if k != "type" && k != "dest" && strings.Contains(o, "=") {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown --output option",
				Detail: fmt.Sprintf("The output %q has the option %q, and outputs take only type and dest.", o, k)})
		}
	}
	switch {
	case typ == "" && dest == "" && !strings.Contains(o, "="):
		if o == "" {
			return engine.Output{}, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing --output destination",
				Detail: "The output is empty. Write --output DIR or --output type=oci,dest=DIR."})
		}
		return engine.Output{Type: "oci", Dest: o}, diags
	case typ != "oci" && typ != "oci-archive" && typ != "docker":
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid --output type",
			Detail: fmt.Sprintf("The output %q has type %q. Use type=oci,dest=DIR, type=oci-archive,dest=FILE or type=docker,dest=FILE.tar.", o, typ)})
	case dest == "":
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing --output destination",
			Detail: fmt.Sprintf("The output %q has no dest. Add dest=PATH.", o)})
	}
	return engine.Output{Type: typ, Dest: dest}, diags
}

// secretFlag is a parsed --secret value: src is a file, env an environment
// variable holding the value.
type secretFlag struct{ id, src, env string }

// parseSecret reads a --secret value: id=ID,src=FILE (or source=FILE) or
// id=ID,env=NAME.
func parseSecret(s string) (secretFlag, hcl.Diagnostics) {
	kv := parseKV(s)
	sec := secretFlag{id: kv["id"], src: kv["src"]}
	if sec.src == "" {
		sec.src = kv["source"]
	}
	if sec.src == "" {
		sec.env = kv["env"]
	}
	if sec.id == "" || (sec.src == "" && sec.env == "") {
		return secretFlag{}, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid --secret value",
			Detail: fmt.Sprintf("The secret %q needs an id and a source file. Write --secret id=ID,src=FILE.", s)}}
	}
	return sec, nil
}

// addTags gives --tag names to the one image being built. Tags never enter
// a cache key, so this changes no layer.
func addTags(plan *ir.Plan, tags []string) error {
	if len(tags) == 0 {
		return nil
	}
	var outputs []*ir.Target
	for _, t := range plan.Targets {
		if t.Output {
			outputs = append(outputs, t)
		}
	}
	if len(outputs) != 1 {
		return fmt.Errorf("--tag names one image, and this build makes %d: choose one with --target, or set tags in each image block", len(outputs))
	}
	outputs[0].Tags = append(outputs[0].Tags, tags...)
	return nil
}

// contextDir is the build context: --context, else the configuration's.
func contextDir(src *source, flag string) string {
	dir := src.dir
	if src.cfg != nil && src.cfg.Dir != "" {
		dir = src.cfg.Dir
	}
	if flag != "" {
		dir = flag
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	return abs
}

// parseKV parses "a=b,c=d" as BuildKit's flags do.
func parseKV(s string) map[string]string {
	m := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(part, "=")
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m
}

// onlyUnreachable tells a build stopped by an unreachable registry alone.
func onlyUnreachable(diags hcl.Diagnostics) bool {
	for _, d := range diags {
		if d.Severity == hcl.DiagError && d.Summary != summaryUnreachable {
			return false
		}
	}
	return true
}

// missingSecrets finds, before anything runs, the required secret mounts
// that no --secret provides.
func missingSecrets(plan *ir.Plan, secrets map[string]string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	files := map[string]*hcl.File{}
	for _, t := range plan.Targets {
		for _, l := range t.Layers {
			for _, st := range l.Steps {
				r, ok := st.(*ir.Run)
				if !ok {
					continue
				}
				for _, m := range r.Mounts {
					if m.Type == ir.MountSecret && m.Required && secrets[m.ID] == "" {
						diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing secret",
							Detail:  fmt.Sprintf("This step mounts the required secret %q, and no --secret gives it. Pass --secret id=%s,src=FILE.", m.ID, m.ID),
							Subject: originRange(files, r.Origin)})
					}
				}
			}
		}
	}
	return diags
}

// entitlements reads the --allow values; network.host is the only one.
func entitlements(allow []string) (networkHost bool, diags hcl.Diagnostics) {
	for _, a := range allow {
		switch strings.TrimSpace(a) {
		case engine.EntitlementNetworkHost:
			networkHost = true
		default:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown entitlement",
				Detail: fmt.Sprintf("--allow %q is not an entitlement imgc knows. The one there is: --allow %s (steps with network = \"host\" use the host's network).", a, engine.EntitlementNetworkHost)})
		}
	}
	return networkHost, diags
}

// hostNetworkSteps refuses, before anything runs, every run step that uses
// the host's network when --allow network.host was not given.
func hostNetworkSteps(plan *ir.Plan) hcl.Diagnostics {
	var diags hcl.Diagnostics
	files := map[string]*hcl.File{}
	for _, t := range plan.Targets {
		for _, l := range t.Layers {
			for _, st := range l.Steps {
				if r, ok := st.(*ir.Run); ok && r.Network == ir.NetworkHost {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Host network not allowed",
						Detail:  fmt.Sprintf("This step asks for the host's network (network = \"host\", or RUN --network=host), which lets it reach the host's loopback services and sniff its traffic, so it needs an explicit entitlement. Pass --allow %s to allow it, or drop the network setting: steps get a private network with outbound access by default.", engine.EntitlementNetworkHost),
						Subject: originRange(files, r.Origin)})
				}
			}
		}
	}
	return diags
}

// checkLocked refuses a --locked build, before anything runs, when a
// registry base is not pinned or (with --pull) now resolves elsewhere.
func checkLocked(plan *ir.Plan, pins map[string]string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, t := range plan.Targets {
		b := t.Base
		if b.Kind != ir.BaseRegistry || b.Ref.Digest != "" {
			continue
		}
		pin, ok := pins[compiler.PinKey(b.Ref.String(), t.Platform)]
		if !ok && t.Platform == hostPlatform() {
			pin, ok = pins[b.Ref.String()]
		}
		switch {
		case !ok:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Base image not pinned",
				Detail:  fmt.Sprintf("--locked needs every tag pinned in imgc.lock.hcl, and %s is not. Build once without --locked to pin it, and commit imgc.lock.hcl.", b.Ref),
				Subject: originRange(map[string]*hcl.File{}, b.Origin)})
		case b.Digest != "" && b.Digest != pin:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Base image pin would move",
				Detail:  fmt.Sprintf("%s now resolves to %s, and imgc.lock.hcl pins %s; --locked never moves a pin. Build without --locked to update imgc.lock.hcl.", b.Ref, b.Digest, pin),
				Subject: originRange(map[string]*hcl.File{}, b.Origin)})
		}
	}
	return diags
}

// registryPins keeps the resolved digests of registry bases: local layouts
// and archives are not pinned, they are keyed by content on every build.
func registryPins(plan *ir.Plan, resolved map[string]string) map[string]string {
	out := map[string]string{}
	for _, t := range plan.Targets {
		if t.Base.Kind == ir.BaseRegistry && t.Base.Ref.Digest == "" {
			key := compiler.PinKey(t.Base.Ref.String(), t.Platform)
			if d, ok := resolved[key]; ok {
				out[key] = d
			}
		}
	}
	return out
}

// updateLock records newly resolved pins (and moved ones, after --pull).
func updateLock(dir string, old, resolved map[string]string) error {
	merged := map[string]string{}
	for k, v := range old {
		merged[k] = v
	}
	changed := false
	for key, dig := range resolved {
		if merged[key] != dig {
			changed = true
		}
		merged[key] = dig
		// The pin of the host's platform replaces one written without a
		// platform.
		if ref, platform, _ := strings.Cut(key, " "); platform == hostPlatform().String() {
			if _, ok := merged[ref]; ok {
				delete(merged, ref)
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	if err := lang.WriteLock(dir, merged); err != nil {
		return fmt.Errorf("writing imgc.lock.hcl: %w", err)
	}
	return nil
}
