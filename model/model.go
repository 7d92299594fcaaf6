package model

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/imageref"
)

// Config is one evaluated configuration.
type Config struct {
	// Dir is the configuration's directory: the default build context.
	Dir string
	// Stages holds stages and images in declaration order.
	Stages []*Stage
	// Files are the parsed sources by name, for rendering diagnostics
	// with snippets (HCL files, and Dockerfiles as raw bytes).
	Files map[string]*hcl.File
	// Vars are the final values of every declared variable, rendered as
	// strings (lists and maps as JSON), for `plan`'s attribution.
	Vars map[string]string
	// Sensitive holds the values of variables declared `sensitive`, by
	// name: a string, number or bool as its string; each element of a
	// collection under NAME[KEY]. The compiler masks them in everything
	// it displays; the values still reach the steps that use them.
	Sensitive map[string]string
}

// Stage returns the stage or image called name, or nil.
func (c *Config) Stage(name string) *Stage {
	for _, s := range c.Stages {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// StageKind is "stage" or "image".
type StageKind string

const (
	KindStage StageKind = "stage"
	KindImage StageKind = "image"
)

// Stage is one evaluated `stage` or `image` block.
type Stage struct {
	Kind StageKind
	Name string
	From From
	// Platform is "os/arch[/variant]" or empty for the host's;
	// PlatformRange is where it is set.
	Platform      string
	PlatformRange hcl.Range
	// Platforms, on an image, are the platforms `imgc build` makes it for
	// without --platform (an image index of one image each);
	// PlatformsRange is where they are set.
	Platforms      []string
	PlatformsRange hcl.Range
	Tags           []string
	Annotations    map[string]string
	// CacheFrom and CacheTo, on an image, are the shared caches a build of
	// it consults and exports, in BuildKit's CSV words as --cache-from and
	// --cache-to take them (the CLI parses them); their ranges are where
	// they are set.
	CacheFrom      []string
	CacheFromRange hcl.Range
	CacheTo        []string
	CacheToRange   hcl.Range
	// Env, Workdir, User and Shell are the stage defaults every step
	// inherits unless it overrides them. Empty means unset (the base
	// image's value applies at run time).
	Env     []EnvVar
	Workdir string
	User    string
	Shell   []string
	// Optimize is "", "safe" or "all" (the stage's `optimize` attribute).
	Optimize string
	Steps    []Step
	Config   *ImageConfig
	// DeclRange is the block header; Range the whole block.
	DeclRange hcl.Range
	Range     hcl.Range
}

// EnvVar is one environment variable; order is kept as written.
type EnvVar struct {
	Name  string
	Value string
}

// From is a stage's base and where it is written.
type From struct {
	Base  Base
	Range hcl.Range
}

// Base is where files come from: *Scratch, *Image or *Target. A stage
// always has one; a copy or a mount has one or none (nil: the build
// context).
type Base interface{ isBase() }

// Scratch is the empty filesystem.
type Scratch struct{}

// Image is an image read from a registry, an OCI layout or a docker
// archive.
type Image struct{ Ref imageref.Ref }

// Target is a stage or image of the same configuration.
type Target struct{ Name string }

func (*Scratch) isBase() {}
func (*Image) isBase()   {}
func (*Target) isBase()  {}

// TargetName is the stage b names, or "" when b is no *Target.
func TargetName(b Base) string {
	if t, ok := b.(*Target); ok {
		return t.Name
	}
	return ""
}

// Step is *Run, *Copy, *Add, *Mkdir or *Layer.
type Step interface {
	StepRange() hcl.Range
}

// Command is what a run step runs: *Sh, *Exec or *Script.
type Command interface{ isCommand() }

// Sh is a shell command, run by the step's shell. A list `sh` is already
// joined with " && ".
type Sh struct{ Script string }

// Exec is an argument vector, run without a shell.
type Exec struct{ Argv []string }

// Script is a program run as an executable file, as BuildKit runs a RUN
// heredoc that starts with #!: the file Name (mode 0755) in a read-only
// /dev/pipes, which the step's shell runs, so the kernel starts the
// interpreter its #! line names.
type Script struct {
	Name string
	Text string
}

func (*Sh) isCommand()     {}
func (*Exec) isCommand()   {}
func (*Script) isCommand() {}

// Run is an evaluated `run` block (or RUN instruction).
type Run struct {
	Command Command
	// CommandRange is where the command is written (zero: Range).
	CommandRange hcl.Range
	Env          []EnvVar // added to the stage env for this step only
	Workdir      string   // "" inherits
	User         string   // "" inherits
	Shell        []string // nil inherits
	Network      string   // "", "default", "none", "host"
	NetworkRange hcl.Range
	// Security is "" (sandboxed) or "insecure": BuildKit's
	// RUN --security=insecure, a privileged container that needs the
	// security.insecure entitlement.
	Security      string
	SecurityRange hcl.Range
	// Devices are BuildKit's RUN --device: CDI devices by name.
	Devices []Device
	Mounts  []Mount
	// NoCache is `cache = false`.
	NoCache  bool
	CacheKey string
	Reads    []string
	Writes   []string
	// Vars are the variables this step's expressions referenced.
	Vars []string
	// Macro names the step macro (e.g. "apt_install") this step was
	// expanded from; empty for a step written as such.
	Macro string
	// MacroLabel names the macro block for people: the macro and the
	// values it was given, such as "user app 1000" or "apt_install curl".
	MacroLabel string
	// Range is where the step is written; for a step expanded from a
	// step definition, the call. Definition is then the step's own block
	// in the definition (zero otherwise). Neither enters a cache key.
	Range      hcl.Range
	Definition hcl.Range
}

// Device is a `device "NAME"` block inside `run` (RUN --device=NAME): a
// CDI device the step gets. Without Required, a device the host lacks is
// left out.
type Device struct {
	Name     string
	Required bool
	// NameRange is the name as written; Range the whole block.
	NameRange hcl.Range
	Range     hcl.Range
}

// Mount is a `mount "TYPE"` block inside `run`.
type Mount struct {
	Type      string // cache, secret, bind, tmpfs
	TypeRange hcl.Range
	Target    string
	ID        string
	Sharing   string
	Source    string
	// From is where a bind or cache mount's files come from; nil is the
	// build context (bind) or an empty cache.
	From      Base
	FromRange hcl.Range
	// Context is, for a bind or cache mount from a Dockerfile's named
	// directory context (--mount=from=NAME with --build-context
	// NAME=DIR), that directory, in place of From.
	Context  string
	ReadOnly bool
	Required bool
	// Env names an environment variable that receives a secret's value
	// (BuildKit's `env=`), instead of or besides a file at Target.
	Env  string
	Mode *uint32
	UID  *int
	GID  *int
	Size int64
	// DeclRange is the block header; Range the whole block.
	DeclRange hcl.Range
	Range     hcl.Range
}

// FileSpec is what copy and add share: the files, where they go and how
// they are owned.
type FileSpec struct {
	Src     []string
	Dest    string
	Exclude []string
	Chown   string
	Chmod   string
	Link    bool
}

// Copy is an evaluated `copy` block (or COPY instruction).
type Copy struct {
	FileSpec
	// From is where the files come from; nil is the build context.
	From      Base
	FromRange hcl.Range
	Parents   bool
	// Content is an inline file's text (copy { content = ... }, a
	// Dockerfile's COPY <<EOF): the step writes it, mode 0644 unless
	// Chmod says otherwise, and has no Src. Name is the file's name when
	// it lands in a directory (Dest ends in "/" or is a directory of the
	// image); "" is Dest's last element.
	Content *string
	Name    string
	Vars    []string
	Macro   string // as Run.Macro
	// Context is the directory the sources are relative to; "" is the
	// build context. A step of a module reads its module's directory.
	Context string
	// NamedContext says Context is a Dockerfile's named context
	// (--build-context NAME=DIR), which, as in BuildKit, is read with
	// its own ignore file instead of the build context's.
	NamedContext bool
	Range        hcl.Range
	Definition   hcl.Range // as Run.Definition
}

// Add is an evaluated `add` block (or ADD instruction): files from the
// context (Src, possibly extracted), one download (URL; without Checksum it
// is keyed by what it serves at build time) or a git checkout (Git).
type Add struct {
	FileSpec
	URL      string
	Checksum string
	Git      *GitSource
	Extract  bool
	Vars     []string
	Macro    string // as Run.Macro
	// Context is as in Copy.
	Context    string
	Range      hcl.Range
	Definition hcl.Range // as Run.Definition
}

// Mkdir is an evaluated `mkdir` block (or a Dockerfile WORKDIR): it
// creates Path and its missing parents, mode 0755, owned by User (""
// is the base image's user, not the stage's: a WORKDIR before any USER),
// as BuildKit's WORKDIR does.
type Mkdir struct {
	Path  string
	User  string
	Vars  []string
	Range hcl.Range
}

// GitSource is a git repository's tree at a ref, the source of an add.
type GitSource struct {
	// Remote is the repository's URL: https://, http://, git://, ssh://
	// or scp-like user@host:path.
	Remote string
	// Ref is a branch, a tag or a full commit id; "" is the remote's HEAD.
	Ref string
	// Subdir is the directory of the tree to add; "" is the whole tree.
	Subdir string
	// KeepGitDir keeps the .git directory (HEAD detached at the commit).
	KeepGitDir bool
	// SkipSubmodules leaves the submodules out; by default they are
	// checked out too (recursively, depth 1), as BuildKit's git source does.
	SkipSubmodules bool
	// Commit pins the commit Ref must name (a Dockerfile's #REF with
	// --checksum or commit=), checked when the build resolves Ref, as
	// BuildKit checks it; "" when Ref is the commit or nothing is pinned.
	Commit string
}

// Layer is a `layer "name"` block: its steps become exactly one layer.
type Layer struct {
	Name  string
	Steps []Step // *Run, *Copy or *Add
	Range hcl.Range
}

func (r *Run) StepRange() hcl.Range   { return r.Range }
func (c *Copy) StepRange() hcl.Range  { return c.Range }
func (a *Add) StepRange() hcl.Range   { return a.Range }
func (m *Mkdir) StepRange() hcl.Range { return m.Range }
func (l *Layer) StepRange() hcl.Range { return l.Range }

// ImageConfig is an evaluated `config` block. It never changes a layer.
type ImageConfig struct {
	Entrypoint    []string
	EntrypointSet bool
	Cmd           []string
	CmdSet        bool
	Env           []EnvVar // merged over the stage env
	User          string
	Workdir       string
	Labels        map[string]string
	// BaseEnvLabels are labels whose values name variables of the base
	// image's environment, expanded when the image is built ($$ is a
	// literal $): a Dockerfile's LABEL p=$PATH. Labels are literal.
	BaseEnvLabels map[string]string
	Expose        []string
	Volumes       []string
	StopSignal    string
	Healthcheck   *Healthcheck
	OnBuild       []string
	Shell         []string
	// Author is the image config's author (Dockerfile MAINTAINER).
	Author string
	Range  hcl.Range
	// Instructions are, for an imported Dockerfile, the instructions that
	// set image config only, in order, each with its own range (the
	// optimizer names them in `plan`); empty for a config block.
	Instructions []ConfigInstruction
}

// ConfigInstruction is one Dockerfile instruction that sets image config:
// LABEL, EXPOSE, CMD, ENTRYPOINT, VOLUME, STOPSIGNAL, HEALTHCHECK,
// MAINTAINER, ONBUILD or ENV.
type ConfigInstruction struct {
	// Name is the instruction in upper case, such as "LABEL".
	Name string
	// Env names the variables an ENV sets.
	Env   []string
	Range hcl.Range
}

// Healthcheck is a `healthcheck` block.
type Healthcheck struct {
	Test          []string
	Interval      string
	Timeout       string
	StartPeriod   string
	StartInterval string
	Retries       int
}
