package main

import (
	"encoding/json"
	"fmt"
	"github.com/google/go-containerregistry/pkg/name"
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
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/store"
)

type buildCmd struct {
	configFlags
	optimizeFlags
	cacheFlags
	builderFlags
	Target       []string `sep:"none" placeholder:"NAME" help:"Build only this stage or image and what it needs (repeatable)."`
	Tag          []string `short:"t" sep:"none" placeholder:"NAME:TAG" help:"Tag the image (repeatable), like docker build -t; with several images, use --target to pick one."`
	Output       []string `sep:"none" short:"o" placeholder:"type=oci,dest=DIR" help:"Also write the images to type=oci,dest=DIR | type=oci-archive,dest=FILE | type=docker,dest=FILE.tar, or one image's files to type=local,dest=DIR (or just DIR) | type=tar,dest=FILE (repeatable)."`
	Load         bool     `hidden:"" help:"docker buildx's --load: refused with what to do instead."`
	IIDFile      string   `name:"iidfile" placeholder:"FILE" help:"Write the image's digest (its manifest's, or its index's) to FILE, as docker build --iidfile does."`
	MetadataFile string   `name:"metadata-file" placeholder:"FILE" help:"Write the build's result as JSON to FILE, as docker buildx build --metadata-file does: containerimage.digest and image.name (by image when the build makes several)."`
	Push         bool     `help:"Push each image to the registries its tags name."`
	NoCache      bool     `name:"no-cache" help:"Rebuild every layer; reuse nothing from the cache."`
	Secret       []string `sep:"none" placeholder:"id=ID,src=FILE" help:"Expose a file to mount \"secret\" blocks (repeatable). Never stored in a layer, the history or a key."`
	SSH          []string `sep:"none" placeholder:"default|ID[=SOCKET|KEY[,KEY]]" help:"Forward an SSH agent to mount \"ssh\" blocks (RUN --mount=type=ssh) (repeatable): default is $SSH_AUTH_SOCK; a socket is forwarded, key files are served by an agent of imgc's own. Never stored in a layer or a key."`
	Progress     string   `placeholder:"auto|tty|plain|json|quiet" help:"Progress output: auto (the default, or $BUILDKIT_PROGRESS), tty, plain, json or quiet (only the result lines and warnings)."`
	Quiet        bool     `short:"q" help:"As docker build -q: --progress quiet."`
	Label        []string `sep:"none" placeholder:"KEY=VALUE" help:"Set a label on every image the build outputs (repeatable), as docker buildx --label does."`
	Annotation   []string `sep:"none" placeholder:"KEY=VALUE" help:"Set an OCI manifest annotation on every image the build outputs (repeatable), as docker buildx --annotation does."`
	Locked       bool     `help:"Fail instead of moving a base image pin in imgc.lock.hcl, or when a base is not pinned."`
	Pull         bool     `help:"Resolve base image tags again, moving their pins in imgc.lock.hcl to what the registry serves now."`
	Compression  string   `enum:"gzip,zstd" default:"gzip" help:"Layer compression: gzip or zstd."`
	Allow        []string `sep:"none" placeholder:"ENTITLEMENT" help:"Grant an entitlement (repeatable): network.host lets steps with network = \"host\" (RUN --network=host) use the host's network; security.insecure lets steps with security = \"insecure\" (RUN --security=insecure) run privileged; device lets steps use every CDI device they name (RUN --device), device=NAME those NAME names."`
	CDISpecDir   []string `name:"cdi-spec-dir" sep:"none" placeholder:"DIR" help:"Read CDI spec files, which define the devices steps name (RUN --device), from DIR instead of /etc/cdi and /var/run/cdi (repeatable; the local engine only: a BuildKit daemon reads its own)."`
	CacheTo      []string `name:"cache-to" sep:"none" placeholder:"type=registry,ref=REF" help:"Export the build cache (repeatable): type=registry,ref=REG/REPO:TAG | type=local,dest=DIR | type=oci,dest=DIR, with mode=min (output images' layers, the default) or mode=max (every layer)."`
	cacheFromFlag
	buildxFlags
}

// cacheFromFlag is --cache-from, of build and plan.
type cacheFromFlag struct {
	CacheFrom []string `name:"cache-from" sep:"none" placeholder:"type=registry,ref=REF" help:"Consult an exported build cache for the layers the local cache lacks (repeatable): type=registry,ref=REG/REPO:TAG | type=local,src=DIR | type=oci,src=DIR."`
}

// imports parses --cache-from.
func (c *cacheFromFlag) imports() ([]engine.CacheImport, hcl.Diagnostics) {
	var out []engine.CacheImport
	var diags hcl.Diagnostics
	for _, v := range c.CacheFrom {
		imp, err := engine.ParseCacheImport(v)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid --cache-from value",
				Detail: fmt.Sprintf("%v. Write --cache-from type=registry,ref=REG/REPO:TAG or type=local,src=DIR.", err)})
			continue
		}
		out = append(out, imp)
	}
	return out, diags
}

// exports parses --cache-to.
func (c *buildCmd) exports() ([]engine.CacheExport, hcl.Diagnostics) {
	var out []engine.CacheExport
	var diags hcl.Diagnostics
	for _, v := range c.CacheTo {
		exp, err := engine.ParseCacheExport(v)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid --cache-to value",
				Detail: fmt.Sprintf("%v. Write --cache-to type=registry,ref=REG/REPO:TAG[,mode=max] or type=local,dest=DIR[,mode=max].", err)})
			continue
		}
		out = append(out, exp)
	}
	return out, diags
}

func (c *buildCmd) Run(e *env) error {
	if c.Load {
		return e.report(nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No --load",
			Detail: "imgc talks to no Docker daemon, so it has nothing to load into: every image it builds is in its own store already (imgc images, imgc run, imgc push). To hand an image to Docker, write --output type=docker,dest=FILE.tar and run docker load -i FILE.tar."}})
	}
	outputs, secrets, diags := c.parseOutputsAndSecrets()
	defer removeEnvSecrets(secrets)
	diags = append(diags, checkTags(c.Tag)...)
	diags = append(diags, c.progressMode()...)
	diags = append(diags, c.buildxFlags.check()...)
	labels, ldiags := keyValues("--label", c.Label)
	annotations, adiags := keyValues("--annotation", c.Annotation)
	adiags = append(adiags, annotationTypes(annotations)...)
	diags = append(append(diags, ldiags...), adiags...)
	agents, stopAgents, adiags := sshAgents(c.SSH)
	defer stopAgents()
	e.sshAgents = agents
	diags = append(diags, adiags...)
	cacheTo, xdiags := c.exports()
	cacheFrom, idiags := c.imports()
	diags = append(append(diags, xdiags...), idiags...)
	if _, odiags := c.disabled(); odiags.HasErrors() {
		return e.report(nil, append(diags, odiags...))
	}
	store, err := c.open()
	if err != nil {
		return err
	}
	saved, sdiags := c.savedPlan()
	if diags = append(diags, sdiags...); sdiags.HasErrors() {
		return e.report(nil, diags)
	}
	plats, pdiags := parsePlatforms(c.Platform)
	if diags = append(diags, pdiags...); pdiags.HasErrors() {
		return e.report(nil, diags)
	}
	src, plans, pins, ldiags := e.loadPlatforms(&c.configFlags, plats, c.Target, c.Tag, c.Context, c.optimizeFlags, store, true, c.Pull)
	diags = append(diags, ldiags...)
	if src == nil || src.Config == nil {
		return e.report(filesOf(src), diags)
	}
	cacheFrom, cacheTo, cdiags := configCaches(src.Config, src.Dir, c.Target, cacheFrom, cacheTo)
	diags = append(diags, cdiags...)
	if c.address() == "" {
		diags = append(diags, localCacheTypes(cacheFrom, cacheTo)...)
	}
	if len(plans) > 1 {
		diags = append(diags, dockerOutputs(outputs)...)
	}
	if len(plans) > 0 {
		diags = append(diags, filesystemOutputs(outputs, c.IIDFile, plans[0])...)
		if c.Push {
			diags = append(diags, untaggedPushes(plans[0])...)
		}
	}
	if err := e.report(src.Files, diags); err != nil {
		if onlyUnreachable(diags) {
			return exitError{exitFailed}
		}
		return err
	}
	if saved != nil {
		if diags := saved.stale(plans); diags.HasErrors() {
			e.report(src.Files, diags)
			return exitError{exitFailed}
		}
	}
	// After the saved plan's check: --label and --annotation add to what
	// it planned, as to a configuration.
	for _, p := range plans {
		addMetadata(p, labels, annotations)
	}
	opts, diags := c.buildOptions(src, plans, pins, outputs, secrets)
	if diags.HasErrors() {
		return e.report(src.Files, diags)
	}
	for _, plan := range plans {
		if diags := missingSSH(plan, agents); diags.HasErrors() {
			return e.report(src.Files, diags)
		}
	}
	opts.SSH = agents
	if err := insecureCaches(cacheFrom, cacheTo); err != nil {
		return err
	}
	opts.CacheTo, opts.CacheFrom = cacheTo, cacheFrom
	return c.build(e, store, src, plans, pins, opts)
}

// buildOptions checks what the plan needs from the command line (secrets,
// entitlements, pins) and gathers the engine's options.
func (c *buildCmd) buildOptions(src *source, plans []*ir.Plan, pins map[string]string, outputs []engine.Output, secrets map[string]string) (engine.BuildOptions, hcl.Diagnostics) {
	plan := plans[0]
	if diags := missingSecrets(plan, secrets); diags.HasErrors() {
		return engine.BuildOptions{}, diags
	}
	allowed, devices, diags := entitlements(c.Allow)
	if !diags.HasErrors() {
		diags = deniedSteps(plan, allowed)
	}
	if len(c.CDISpecDir) > 0 && c.address() != "" {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "CDI spec directory with a builder",
			Detail: "--cdi-spec-dir tells the local engine where CDI spec files are; a BuildKit daemon reads its own (buildkitd --cdi-spec-dir, or [cdi] specDirs in buildkitd.toml). Drop --cdi-spec-dir, or build without --builder."})
	}
	if diags.HasErrors() {
		return engine.BuildOptions{}, diags
	}
	if c.Locked {
		for _, plan := range plans {
			if diags := checkLocked(plan, pins); diags.HasErrors() {
				if src.Dockerfile && !lockExists(src.Dir) {
					for _, d := range diags {
						if d.Summary == "Base image not pinned" {
							d.Detail += fmt.Sprintf(" A Dockerfile build pins its bases only into an %s that exists, as docker build pins nothing: create an empty one beside the Dockerfile (touch %s), build once, and commit it.", lang.LockFile, filepath.Join(src.Dir, lang.LockFile))
						}
					}
				}
				return engine.BuildOptions{}, diags
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

		AllowNetworkHost: allowed[engine.EntitlementNetworkHost],
		AllowInsecure:    allowed[engine.EntitlementSecurityInsecure],
		Devices:          devices,
		CDISpecDirs:      c.CDISpecDir,
		ProxyEnv:         c.proxyEnv(),
	}
	if v := src.SourceDateEpoch; v != "" {
		sec, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return opts, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid SOURCE_DATE_EPOCH",
				Detail: fmt.Sprintf("SOURCE_DATE_EPOCH=%q is not a number of seconds since 1970. Set it to an integer such as $(git log -1 --format=%%ct).", v)}}
		}
		t := time.Unix(sec, 0).UTC()
		opts.SourceDateEpoch = &t
	}
	return opts, nil
}

// build runs the plan through the engine, updates the lock file and
// prints what it built.
func (c *buildCmd) build(e *env, store *store.Store, src *source, plans []*ir.Plan, pins map[string]string, opts engine.BuildOptions) error {
	prog := newProgress(e, c.Progress)
	opts.Progress = prog.event
	start := time.Now()
	res, err := buildPlans(e, c.engine(store), plans, opts)
	prog.close()
	if err != nil {
		if rerr, ok := e.reportBuilderError(err); ok {
			return rerr
		}
		if prog.mode == "json" {
			return prog.failure(err)
		}
		return e.reportBuildError(src.Files, err)
	}
	if len(res.Pins) > 0 {
		resolved := map[string]string{}
		for _, plan := range plans {
			maps.Copy(resolved, registryPins(plan, res.Pins))
		}
		// A Dockerfile build pins nothing unless its directory has a lock
		// file (docker build pins nothing); its plans assume the tags
		// still name what this build resolved.
		if !c.Locked && (!src.Dockerfile || lockExists(src.Dir)) {
			if err := updateLock(src.Dir, pins, resolved); err != nil {
				return err
			}
		}
		if err := store.RecordResolved(resolved); err != nil {
			return err
		}
	}
	if err := c.writeResultFiles(res); err != nil {
		return err
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
	switch c.Progress {
	case "json":
		prog.built(res)
	case "quiet":
	default:
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

// parseOutput reads an --output value: type=oci|oci-archive|docker|local|tar,dest=PATH,
// or a bare path: the image's files in that directory, as `docker build
// -o DIR` writes them (type=local).
func parseOutput(o string) (engine.Output, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	kv := parseKV(o)
	typ, dest := kv["type"], kv["dest"]
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		if k != "type" && k != "dest" && strings.Contains(o, "=") && typ != "registry" && typ != "image" {
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
		if o == "-" {
			return engine.Output{}, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Output to standard output",
				Detail: "--output - writes to standard output, which carries imgc's result lines. Write it to a file: --output type=tar,dest=FILE.tar (the image's files) or type=oci-archive,dest=FILE.tar."})
		}
		return engine.Output{Type: "local", Dest: o}, diags
	case typ == "registry" || typ == "image":
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid --output type",
			Detail: fmt.Sprintf("The output %q has type %q, buildx's way to push. imgc pushes with its own flags: -t NAME (each image's tags) and --push.", o, typ)})
	case typ != "oci" && typ != "oci-archive" && typ != "docker" && typ != "local" && typ != "tar":
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid --output type",
			Detail: fmt.Sprintf("The output %q has type %q. Use type=oci,dest=DIR, type=oci-archive,dest=FILE, type=docker,dest=FILE.tar, type=local,dest=DIR (the image's files) or type=tar,dest=FILE.tar (the same in a tar).", o, typ)})
	case dest == "":
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing --output destination",
			Detail: fmt.Sprintf("The output %q has no dest. Add dest=PATH.", o)})
	case dest == "-":
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Output to standard output",
			Detail: fmt.Sprintf("The output %q writes to standard output, which carries imgc's result lines. Write it to a file: --output type=tar,dest=FILE.tar (the image's files) or type=oci-archive,dest=FILE.tar.", o)})
	}
	return engine.Output{Type: typ, Dest: dest}, diags
}

// secretFlag is a parsed --secret value: src is a file, env an environment
// variable holding the value.
type secretFlag struct{ id, src, env string }

// parseSecret reads a --secret value as buildx does: id=ID,src=FILE (or
// source=FILE), id=ID,env=NAME, type=env,id=ID,src=NAME, or id=ID alone
// (the environment variable ID if it is set, else the file ID). A
// relative file is relative to the working directory.
func parseSecret(s string) (secretFlag, hcl.Diagnostics) {
	kv := parseKV(s)
	sec := secretFlag{id: kv["id"], src: kv["src"], env: kv["env"]}
	if sec.src == "" {
		sec.src = kv["source"]
	}
	switch kv["type"] {
	case "", "file":
	case "env":
		if sec.env == "" {
			sec.env, sec.src = sec.src, ""
		}
	default:
		return secretFlag{}, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid --secret value",
			Detail: fmt.Sprintf("The secret %q has type %q; the types are file and env.", s, kv["type"])}}
	}
	if sec.src != "" {
		sec.env = ""
	}
	if sec.id == "" {
		return secretFlag{}, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid --secret value",
			Detail: fmt.Sprintf("The secret %q has no id. Write --secret id=ID,src=FILE or id=ID,env=NAME.", s)}}
	}
	if sec.src == "" && sec.env == "" {
		if _, ok := os.LookupEnv(sec.id); ok {
			sec.env = sec.id
		} else {
			sec.src = sec.id
		}
	}
	if sec.src != "" {
		if abs, err := filepath.Abs(sec.src); err == nil {
			sec.src = abs
		}
	}
	return sec, nil
}

// contextDir is the build context: --context, else the configuration's.
func contextDir(src *source, flag string) string {
	dir := src.Dir
	if src.Config != nil && src.Config.Dir != "" {
		dir = src.Config.Dir
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

// onlyUnreachable tells a build stopped by an unreachable registry alone:
// the environment's fault, not the configuration's.
func onlyUnreachable(diags hcl.Diagnostics) bool {
	for _, d := range diags {
		if d.Severity == hcl.DiagError && !compiler.IsUnreachable(d) {
			return false
		}
	}
	return true
}

// missingSecrets finds, before anything runs, the required secret mounts
// that no --secret provides.
func missingSecrets(plan *ir.Plan, secrets map[string]string) hcl.Diagnostics {
	return missingMounts(plan, ir.MountSecret, secrets, "Missing secret", func(id string) string {
		return fmt.Sprintf("This step mounts the required secret %q, and no --secret gives it. Pass --secret id=%s,src=FILE.", id, id)
	})
}

// missingMounts finds the required mounts of type typ whose id has no
// value in given, each an error at its run step.
func missingMounts(plan *ir.Plan, typ ir.MountType, given map[string]string, summary string, detail func(id string) string) hcl.Diagnostics {
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
					if m.Type == typ && m.Required && given[m.ID] == "" {
						diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary,
							Detail: detail(m.ID), Subject: originRange(files, r.Origin)})
					}
				}
			}
		}
	}
	return diags
}

// entitlements reads the --allow values: network.host,
// security.insecure, and device or device=NAME.
func entitlements(allow []string) (allowed map[string]bool, devices engine.DeviceGrant, diags hcl.Diagnostics) {
	allowed = map[string]bool{}
	for _, a := range allow {
		a = strings.TrimSpace(a)
		if name, ok := strings.CutPrefix(a, engine.EntitlementDevice+"="); ok {
			if name == "" || strings.Contains(name, ",") {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid device entitlement",
					Detail: fmt.Sprintf("--allow %q does not name one device. Write --allow device=NAME with a device name as steps write it, such as vendor.com/gpu=0 (imgc takes no alias=), or --allow device for every device.", a)})
				continue
			}
			devices.Names = append(devices.Names, name)
			continue
		}
		switch a {
		case engine.EntitlementNetworkHost, engine.EntitlementSecurityInsecure:
			allowed[a] = true
		case engine.EntitlementDevice:
			devices.All = true
		default:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown entitlement",
				Detail: fmt.Sprintf("--allow %q is not an entitlement imgc knows. The ones there are: --allow %s (steps with network = \"host\" use the host's network), --allow %s (steps with security = \"insecure\" run privileged) and --allow %s[=NAME] (steps get the CDI devices they name).", a, engine.EntitlementNetworkHost, engine.EntitlementSecurityInsecure, engine.EntitlementDevice)})
		}
	}
	return allowed, devices, diags
}

// deniedSteps refuses, before anything runs, every run step that uses the
// host's network or runs privileged when --allow did not grant it.
func deniedSteps(plan *ir.Plan, allowed map[string]bool) hcl.Diagnostics {
	var diags hcl.Diagnostics
	files := map[string]*hcl.File{}
	for _, t := range plan.Targets {
		for _, l := range t.Layers {
			for _, st := range l.Steps {
				r, ok := st.(*ir.Run)
				if !ok {
					continue
				}
				if r.Network == ir.NetworkHost && !allowed[engine.EntitlementNetworkHost] {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Host network not allowed",
						Detail:  fmt.Sprintf("This step asks for the host's network (network = \"host\", or RUN --network=host), which lets it reach the host's loopback services and sniff its traffic, so it needs an explicit entitlement. Pass --allow %s to allow it, or drop the network setting: steps get a private network with outbound access by default.", engine.EntitlementNetworkHost),
						Subject: originRange(files, r.Origin)})
				}
				if r.Security == ir.SecurityInsecure && !allowed[engine.EntitlementSecurityInsecure] {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Insecure step not allowed",
						Detail:  fmt.Sprintf("This step asks to run privileged (security = \"insecure\", or RUN --security=insecure): every capability, no seccomp filter, a writable /sys and the host's devices, so it can take over the machine and needs an explicit entitlement. Pass --allow %s to allow it, or drop the security setting.", engine.EntitlementSecurityInsecure),
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

// writeResultFiles writes --iidfile and --metadata-file.
func (c *buildCmd) writeResultFiles(res *engine.Result) error {
	if c.IIDFile != "" {
		if len(res.Images) != 1 {
			return fmt.Errorf("--iidfile %s: the build made %d images, and the file holds one digest: build one with --target, or use --metadata-file", c.IIDFile, len(res.Images))
		}
		if err := os.WriteFile(c.IIDFile, []byte(res.Images[0].Digest), 0o644); err != nil {
			return fmt.Errorf("--iidfile: %w", err)
		}
	}
	if c.MetadataFile == "" {
		return nil
	}
	type metadata struct {
		Digest string `json:"containerimage.digest"`
		Name   string `json:"image.name,omitempty"`
	}
	of := func(img engine.ImageResult) metadata {
		return metadata{Digest: img.Digest, Name: strings.Join(img.Tags, ",")}
	}
	var v any
	if len(res.Images) == 1 {
		v = of(res.Images[0])
	} else {
		byImage := map[string]metadata{}
		for _, img := range res.Images {
			byImage[img.Target] = of(img)
		}
		v = byImage
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.MetadataFile, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("--metadata-file: %w", err)
	}
	return nil
}

// lockExists tells whether dir has a lock file.
func lockExists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, lang.LockFile))
	return err == nil
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

// checkTags checks --tag values before anything is built, as docker build
// does, so that a name no registry takes does not fail the push after a
// whole build.
func checkTags(tags []string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, t := range tags {
		if _, err := name.NewTag(t); err != nil {
			hint := ""
			if strings.ToLower(t) != t {
				hint = " Repository names are lower case; only the tag after the last : may hold capitals."
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid --tag",
				Detail: fmt.Sprintf("%q is not an image name: %v.%s Write [REGISTRY/]REPOSITORY[:TAG], such as registry.example.com/team/app:1.2.", t, err, hint)})
		}
	}
	return diags
}

// untaggedPushes refuses --push when no image of the build has a tag,
// which would push nothing (docker buildx refuses it too), and warns of
// each output image without one when others have some.
func untaggedPushes(plan *ir.Plan) hcl.Diagnostics {
	var tagged int
	var untagged []string
	for _, t := range plan.Targets {
		if !t.Output {
			continue
		}
		if len(t.Tags) > 0 {
			tagged++
		} else {
			untagged = append(untagged, t.Name)
		}
	}
	if tagged == 0 {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Nothing to push",
			Detail: "--push pushes each image to the registries its tags name, and no image of this build has a tag. Add --tag REGISTRY/REPOSITORY:TAG, or tags to the image block."}}
	}
	var diags hcl.Diagnostics
	for _, n := range untagged {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Image not pushed",
			Detail: fmt.Sprintf("The image %s has no tag, so --push leaves it in imgc's store only. Give it tags to push it.", n)})
	}
	return diags
}
