package lang

import "github.com/hashicorp/hcl/v2"

// This file is the evaluated model: what an .image.hcl configuration (after
// parsing, decoding, reference resolution and evaluation) or an imported
// Dockerfile becomes. Every value is concrete; ranges point at the source
// (HCL blocks or Dockerfile instructions) for diagnostics. The compiler
// lowers a Config to the IR and needs nothing else from this package.

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
	Tags          []string
	Annotations   map[string]string
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

// From is a stage's base.
type From struct {
	// Exactly one of Scratch, Ref and Stage is set.
	Scratch bool
	// Ref is a registry reference, "oci:PATH[:TAG]" or "docker-archive:PATH".
	Ref string
	// Stage names a stage or image of the same configuration.
	Stage string
	// Reported is set, with none of the above, when the front end has
	// reported the base as missing or invalid: the compiler does not
	// report it again.
	Reported bool
	Range    hcl.Range
}

// Step is *Run, *Copy, *Add or *Layer.
type Step interface {
	StepRange() hcl.Range
}

// Run is an evaluated `run` block (or RUN instruction).
type Run struct {
	// Exactly one of Sh and Exec is set. A list `sh` is already joined
	// with " && ".
	Sh   string
	Exec []string
	// IsExec tells `exec = []` from an unset exec.
	IsExec  bool
	Env     []EnvVar // added to the stage env for this step only
	Workdir string   // "" inherits
	User    string   // "" inherits
	Shell   []string // nil inherits
	Network string   // "", "default", "none", "host"
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
	Range      hcl.Range
}

// Mount is a `mount "TYPE"` block inside `run`.
type Mount struct {
	Type    string // cache, secret, bind, tmpfs
	Target  string
	ID      string
	Sharing string
	Source  string
	// FromStage names a stage (bind/cache `from = stage.X`); FromRef an
	// image reference string.
	FromStage string
	FromRef   string
	ReadOnly  bool
	Required  bool
	// Env names an environment variable that receives a secret's value
	// (BuildKit's `env=`), instead of or besides a file at Target.
	Env   string
	Mode  *uint32
	UID   *int
	GID   *int
	Size  int64
	Range hcl.Range
}

// Copy is an evaluated `copy` block (or COPY instruction).
type Copy struct {
	Src       []string
	Dest      string
	FromStage string // stage.NAME / image.NAME
	FromRef   string // an image reference string
	Exclude   []string
	Chown     string
	Chmod     string
	Link      bool
	Parents   bool
	Vars      []string
	Macro     string // as Run.Macro
	Range     hcl.Range
}

// Add is an evaluated `add` block (or ADD instruction).
type Add struct {
	Src      []string
	URL      string
	Checksum string
	Dest     string
	Extract  bool
	Chown    string
	Chmod    string
	// Link and Exclude mirror Copy's (Dockerfile `ADD --link/--exclude`).
	Link    bool
	Exclude []string
	Vars    []string
	Range   hcl.Range
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
	Expose        []string
	Volumes       []string
	StopSignal    string
	Healthcheck   *Healthcheck
	OnBuild       []string
	Shell         []string
	Range         hcl.Range
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
