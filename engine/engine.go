package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/imgc-dev/imgc/ir"
)

// Engine builds a compiled plan.
type Engine interface {
	// Build builds the output targets of p and what they need, stores
	// them by their tags, writes o.Outputs and, with o.Push, pushes them.
	// A failing step comes back as a *StepError.
	Build(ctx context.Context, p *ir.Plan, o BuildOptions) (*Result, error)
	// Explain tells, for each layer of p, whether a build now would reuse
	// it and, if not, why (for `imgc plan`).
	Explain(p *ir.Plan) map[ir.CacheKey]ir.Status
}

// PlatformBuilder is an Engine that builds several platforms at once: one
// plan per platform, each compiled for its target platform (so each has
// its own keys) and all with the same output targets. Each output target
// becomes an OCI image index of its images, one per platform in the order
// of plans, stored, exported and pushed under the target's tags; the
// per-platform images are not tagged. A "docker" output is refused
// (`docker load` takes one platform). With one plan it is Build.
type PlatformBuilder interface {
	BuildPlatforms(ctx context.Context, plans []*ir.Plan, o BuildOptions) (*Result, error)
}

// PlatformOf is the target platform of a plan compiled for one: that of
// its output targets (a stage may set its own), else of its last target.
func PlatformOf(p *ir.Plan) ir.Platform {
	var last ir.Platform
	for _, t := range p.Targets {
		if t.Output {
			return t.Platform
		}
		last = t.Platform
	}
	return last
}

// Output is an extra export of the built output targets.
type Output struct {
	// Type is "oci" (an OCI layout directory), "oci-archive" (a tar of
	// one), "docker" (a tarball for `docker load`), "local" (the image's
	// files in a directory) or "tar" (the same as one tar).
	Type string
	Dest string
}

// AnotherBuild is the Line of a "waiting" event of a layer that another
// build of the same cache directory is making.
const AnotherBuild = "another build making this layer"

// BuildOptions control a build.
type BuildOptions struct {
	// NoCache rebuilds every layer (the results are still recorded).
	NoCache bool
	// Secrets maps a secret id to the host file mounted for it.
	Secrets map[string]string
	// SSH maps an SSH agent id (a mount's id, "default" by default) to the
	// host socket of the agent its ssh mounts forward. The socket's path
	// enters no key.
	SSH     map[string]string
	Outputs []Output
	// Push writes every tag of every output target to its registry.
	Push bool
	// Compression is "gzip" (the default) or "zstd".
	Compression string
	// SourceDateEpoch clamps file mtimes and sets `created`, for
	// reproducible builds.
	SourceDateEpoch *time.Time
	// Progress receives events; nil means none. Calls are serialised.
	Progress func(Event)
	// Parallelism bounds how many targets build at once; 0 means 2. A
	// target waiting for another one's result does not count.
	Parallelism int
	// Context is the build context directory, for bind mounts without a
	// `from`; empty means the context of the plan's copy steps.
	Context string
	// AllowNetworkHost is the network.host entitlement: without it, Build
	// refuses run steps with network = "host". Other steps get a private
	// network namespace or, with "none", loopback only.
	AllowNetworkHost bool
	// ProxyEnv is added to the environment of every run step that does not
	// set the variable itself (HTTP_PROXY=..., http_proxy=...), as
	// BuildKit does with its predefined proxy build arguments. It enters
	// no key, history or image config.
	ProxyEnv []string
	// AllowInsecure is the security.insecure entitlement: without it,
	// Build refuses run steps with security = "insecure".
	AllowInsecure bool
	// Devices is the device entitlement (--allow device[=NAME]); without
	// it, a run step gets only the CDI devices whose spec files allow
	// them to every build.
	Devices DeviceGrant
	// CDISpecDirs are the directories of CDI spec files the local engine
	// reads; nil means DefaultCDISpecDirs. (A BuildKit daemon reads its
	// own, set by its configuration.)
	CDISpecDirs []string
	// CacheTo are the caches the build exports once it succeeded
	// (--cache-to); CacheFrom are consulted, in order, for the layers the
	// local cache lacks (--cache-from).
	CacheTo   []CacheExport
	CacheFrom []CacheImport
}

// EntitlementNetworkHost is what `imgc build --allow` takes to let run steps
// use the host's network (buildx's name).
const EntitlementNetworkHost = "network.host"

// EntitlementSecurityInsecure is what `imgc build --allow` takes to let run
// steps run privileged (security = "insecure", buildx's name).
const EntitlementSecurityInsecure = "security.insecure"

// EntitlementDevice is what `imgc build --allow` takes to give run steps
// CDI devices: `device` grants every device, `device=NAME` those NAME
// resolves to (buildx's names).
const EntitlementDevice = "device"

// DeviceGrant is the device entitlement: every device (All) or those the
// Names resolve to, as run steps' device names do. A device whose CDI spec
// (or the device itself) carries the annotation
// org.mobyproject.buildkit.device.autoallow=true needs no grant, as in
// BuildKit.
type DeviceGrant struct {
	All   bool
	Names []string
}

// DefaultCDISpecDirs are where CDI spec files are by default (the CDI
// specification's directories).
var DefaultCDISpecDirs = []string{"/etc/cdi", "/var/run/cdi"}

// Event is one progress report.
type Event struct {
	Time time.Time
	// Kind is "target" (a target starts), "cached" (a layer is reused;
	// Line names the imported cache it came from, empty for the local one),
	// "start" (a layer starts building), "log" (a line of step output),
	// "done" (a layer or, with Layer empty, a target finished), "error",
	// "export" (an output or a cache export was written, or with Target
	// set an image named or pushed; Line says which: "oci:DIR",
	// "name:TAG", "push:TAG", or "mount:..." saying how many layers a push
	// mounted from a shared cache without downloading them), "warning" (Line says what is unsafe about
	// this machine's setup, once per process, or which imported cache
	// entry was refused and why), "plan" (before the targets start, again
	// when a build starts over: Steps is how many layers the build has,
	// cached ones included), "waiting" (Target, or its layer Layer,
	// waits for the target Line, or for AnotherBuild) or "received" (BuildKit engine: Line
	// says how much of Target's image came from the builder).
	Kind     string
	Target   string
	Layer    string
	Key      ir.CacheKey
	Origin   ir.Origin
	Line     string
	Duration time.Duration
	Steps    int
	// Reason is, on a layer's "done", why it ran, in plan's words
	// ("copied file app.py changed"); empty where the engine cannot tell.
	Reason string
}

// ImageResult is one built output target.
type ImageResult struct {
	Target string
	// Digest is the manifest digest (of the image index, for a
	// multi-platform build).
	Digest string
	Tags   []string
	// Platforms are the index's images, one per platform, for a
	// multi-platform build.
	Platforms []PlatformImage
}

// PlatformImage is one platform's image in an index.
type PlatformImage struct {
	Platform ir.Platform
	Digest   string
}

// Result is what a build produced.
type Result struct {
	Images []ImageResult
	// Pins maps each base reference and the platform it was pulled for,
	// "REFERENCE OS/ARCH[/VARIANT]", to the manifest digest it resolved to.
	Pins map[string]string
}

// StepError is a failed step. The CLI renders one diagnostic per origin,
// with the exit status and the output's tail.
type StepError struct {
	Target  string
	Key     ir.CacheKey
	Origins []ir.Origin
	// ExitCode is the command's exit status, or 0 when the step failed
	// without running one.
	ExitCode int
	// Tail is the last lines of the step's output (at most 20).
	Tail []string
	// Layer names the failing layer; empty when the base failed.
	Layer string
	Err   error
}

func (e *StepError) Error() string {
	var where []string
	for _, o := range e.Origins {
		if s := o.String(); s != "" {
			where = append(where, s)
		}
	}
	msg := fmt.Sprintf("building %s", e.Target)
	if len(where) > 0 {
		msg += " (" + strings.Join(where, ", ") + ")"
	}
	if e.ExitCode != 0 {
		return fmt.Sprintf("%s: exit status %d", msg, e.ExitCode)
	}
	return fmt.Sprintf("%s: %v", msg, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }
