package ir

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/imgc-dev/imgc/imageref"
)

// Plan is a whole compiled configuration: every target to build, in build
// order (a target comes after every target it depends on), and what the
// optimizer did.
type Plan struct {
	// Project identifies the configuration (its absolute path), so the
	// store can compare a target with its own last build.
	Project       string         `json:"project"`
	Targets       []*Target      `json:"targets"`
	Optimizations []Optimization `json:"optimizations"`
	// Sensitive are the values of sensitive variables. The compiler masks
	// them (see Masker) in the display strings it makes (layer names,
	// CreatedBy, key inputs); the printers mask them in the step summaries
	// they derive from steps, which hold the real values the runtime
	// needs. Never serialised.
	Sensitive []string `json:"-"`
}

// Target returns the target called name, or nil.
func (p *Plan) Target(name string) *Target {
	for _, t := range p.Targets {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// TargetKind tells an intermediate stage from a result image.
type TargetKind string

const (
	KindStage TargetKind = "stage"
	KindImage TargetKind = "image"
)

// Target is one stage or image: a base, a chain of layers and a config.
type Target struct {
	Name string     `json:"name"`
	Kind TargetKind `json:"kind"`
	// Output is true for targets whose image is exported (images, or stages
	// named with --target); false for stages built only because another
	// target needs them.
	Output      bool              `json:"output"`
	Base        Base              `json:"from"`
	Platform    Platform          `json:"platform"`
	Layers      []*Layer          `json:"layers"`
	Config      ImageConfig       `json:"config"`
	Tags        []string          `json:"tags,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// DependsOn names the targets this one reads from (base, copy from, bind
	// mounts), so independent targets can be built in parallel.
	DependsOn []string `json:"depends_on,omitempty"`
	Origin    Origin   `json:"source"`
}

// Key is the key of the target's filesystem: the last layer's key, or the
// base's key when the target adds no layer.
func (t *Target) Key() CacheKey {
	if n := len(t.Layers); n > 0 {
		return t.Layers[n-1].Key
	}
	return t.Base.Key
}

// Platform is an OS/architecture pair such as linux/amd64.
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// BaseKind says where a target's base filesystem comes from.
type BaseKind string

const (
	BaseScratch       BaseKind = "scratch"
	BaseRegistry      BaseKind = "registry"       // NAME[:TAG][@DIGEST]
	BaseOCILayout     BaseKind = "oci"            // oci:PATH[:TAG][@DIGEST]
	BaseDockerArchive BaseKind = "docker-archive" // docker-archive:PATH
	BaseTarget        BaseKind = "target"         // stage.NAME / image.NAME
)

// ImageBase is the base for an image reference, of the matching kind,
// pinned to the digest a registry reference carries. A layout's digest
// may name an index, whose manifest for the platform the resolve pass
// finds.
func ImageBase(ref imageref.Ref) Base {
	kinds := map[imageref.Kind]BaseKind{imageref.Registry: BaseRegistry, imageref.OCILayout: BaseOCILayout, imageref.DockerArchive: BaseDockerArchive}
	k, ok := kinds[ref.Kind]
	if !ok {
		panic(fmt.Sprintf("ir.ImageBase: reference of kind %q", ref.Kind))
	}
	b := Base{Kind: k, Ref: ref}
	if k == BaseRegistry {
		b.Digest = ref.Digest
	}
	return b
}

// Base is a target's starting filesystem and config.
type Base struct {
	Kind BaseKind `json:"kind"`
	// Ref is the image of a registry, OCI layout or docker archive base,
	// parsed once by the front end: Docker Hub short names expanded,
	// layout paths made absolute. Its String is the pin's key.
	Ref imageref.Ref `json:"ref,omitempty"`
	// Digest is the manifest digest when it is pinned (in the reference or
	// the lock file) or resolved; empty when only a tag is known.
	Digest string `json:"digest,omitempty"`
	// Target names the stage or image of the same plan, for BaseTarget.
	Target string `json:"target,omitempty"`
	// Key is what the first layer's key builds on: the manifest digest, the
	// tag while unresolved, the base target's key, or a constant for scratch.
	Key    CacheKey `json:"key"`
	Origin Origin   `json:"source"`
}

// Layer is one cache boundary and, unless empty, one layer of the image.
type Layer struct {
	// Name is the layer block's name, or a name derived from its only step.
	Name   string   `json:"name"`
	Key    CacheKey `json:"cache_key"`
	Parent CacheKey `json:"parent"`
	Steps  []Step   `json:"-"`
	// NoCache is `cache = false`: never reuse a cached result.
	NoCache bool `json:"no_cache,omitempty"`
	// Inputs is everything that went into Key besides Parent, named for
	// people; `plan` compares them with the last build to say why a layer
	// misses.
	Inputs []KeyInput `json:"inputs"`
	// Vars are the variables whose values the layer's attributes used. They
	// are not key material (their effect already is), only attribution.
	Vars map[string]string `json:"vars,omitempty"`
	// Merged holds, for a layer the optimizer merged from several, the
	// per-step keys each step keeps its own cache entry under.
	Merged []CacheKey `json:"merged,omitempty"`
	// IgnoreFile names the ignore file its steps listed a build context
	// through and its content's digest (".dockerignore sha256:..."),
	// "none" when there was none, "" when no step read a context. Not key
	// material (the files listed are), only attribution: plan says the
	// ignore file changed when copied files came or went with it.
	IgnoreFile string `json:"ignore_file,omitempty"`
	// CreatedBy is the image history text for the layer ("RUN make
	// install", "COPY src/ /app/").
	CreatedBy string `json:"created_by"`
	Origin    Origin `json:"source"`
}

// KeyInput is one named piece of key material, such as
// {"command", "make install"} or {"file src/app.py", "sha256:..."}.
// Names are stable: the reason engine matches them across builds.
type KeyInput struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	// Text is, for an input keyed by the digest of a text the
	// configuration wrote (a copy's inline content), that text when it
	// is at most MaxInputText bytes: plan tells from it whether new
	// values of variables explain the change. It is not part of the key.
	Text string `json:"text,omitempty"`
}

// MaxInputText bounds KeyInput.Text.
const MaxInputText = 16 << 10

// StepKind names a step type.
type StepKind string

const (
	StepRun   StepKind = "run"
	StepCopy  StepKind = "copy"
	StepAdd   StepKind = "add"
	StepMkdir StepKind = "mkdir"
)

// Step is one resolved operation inside a layer.
type Step interface {
	Kind() StepKind
	Source() Origin
}

// Network is a run step's network mode.
type Network string

const (
	NetworkDefault Network = "default" // a private network with outbound access, as BuildKit's default
	NetworkNone    Network = "none"
	NetworkHost    Network = "host"
)

// Run executes a command in a container over the parent layer's filesystem;
// what it changes becomes the layer.
type Run struct {
	// Argv is what the container executes: the shell plus the command for
	// shell form, or the exec form as written.
	Argv []string `json:"argv"`
	// Shell is true for shell form; Command is then the script (for display).
	Shell   bool   `json:"shell"`
	Command string `json:"command,omitempty"`
	// Env is every variable the configuration sets for this step, in order,
	// as "NAME=value". The runtime layers it over the base image's env.
	Env []string `json:"env,omitempty"`
	// Workdir and User are empty when the configuration sets none: the
	// runtime then uses the base image's (or "/" and "root").
	Workdir string  `json:"workdir,omitempty"`
	User    string  `json:"user,omitempty"`
	Network Network `json:"network"`
	// Security is "" or SecurityInsecure.
	Security string `json:"security,omitempty"`
	// Devices are the CDI devices the step gets, in order (BuildKit's
	// RUN --device). Their names enter the key; what the host's CDI spec
	// files make of them does not.
	Devices []Device `json:"devices,omitempty"`
	Mounts  []Mount  `json:"mounts,omitempty"`
	Reads   []string `json:"reads,omitempty"`
	Writes  []string `json:"writes,omitempty"`
	// CacheKey is the `cache_key` attribute: extra key material only.
	CacheKey string `json:"cache_key,omitempty"`
	// Script, when set, is a file the runtime shows read-only at
	// ScriptDir/Name, mode 0755, which the command (the shell and that
	// path) runs: a RUN heredoc that starts with #!.
	Script *Script `json:"script,omitempty"`
	Origin Origin  `json:"source"`
	// Definition is, for a step expanded from a step definition, the
	// step's own block in the definition (Origin is then the call's).
	Definition *Origin `json:"definition,omitempty"`
}

// SecurityInsecure runs a step in a privileged container (all
// capabilities, no seccomp, /sys writable), as BuildKit's
// RUN --security=insecure does.
const SecurityInsecure = "insecure"

// Device is a CDI (Container Device Interface) device a run step asks
// for. Name is "vendor.com/class=name" (that device), "vendor.com/class"
// (the first device of the kind), "vendor.com/class=*" (every device of
// the kind) or the value of a device's org.mobyproject.buildkit.device.class
// annotation, as in BuildKit. A device that is not Required and that the
// host does not have is left out; a Required one fails the build.
type Device struct {
	Name     string `json:"name"`
	Required bool   `json:"required,omitempty"`
}

// ScriptDir is where a run step's Script is, as in BuildKit.
const ScriptDir = "/dev/pipes"

// Script is a run step's program file.
type Script struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

func (*Run) Kind() StepKind   { return StepRun }
func (r *Run) Source() Origin { return r.Origin }

// MountType is a run mount's kind (BuildKit's RUN --mount types).
type MountType string

const (
	MountCache  MountType = "cache"
	MountSecret MountType = "secret"
	MountBind   MountType = "bind"
	MountTmpfs  MountType = "tmpfs"
	// MountSSH is a socket that forwards an SSH agent given to the build
	// (imgc build --ssh ID=...); it enters no key and no layer.
	MountSSH MountType = "ssh"
)

// Mount is a filesystem mounted for one run step; it never reaches a layer.
type Mount struct {
	Type   MountType `json:"type"`
	Target string    `json:"target"`
	// ID names a cache mount's persistent directory or a secret.
	ID string `json:"id,omitempty"`
	// Sharing is "shared", "private" or "locked" (cache mounts).
	Sharing string `json:"sharing,omitempty"`
	// Source is a path inside FromTarget (bind), or in the context when
	// FromTarget is empty.
	Source     string `json:"source,omitempty"`
	FromTarget string `json:"from,omitempty"`
	// Context is, for a bind or cache mount from a named directory
	// context, that absolute directory; "" is the build context (or
	// FromTarget).
	Context  string `json:"context,omitempty"`
	ReadOnly bool   `json:"readonly,omitempty"`
	Required bool   `json:"required,omitempty"`
	// Env names an environment variable that receives a secret's value
	// (BuildKit's `env=`), instead of or besides a file at Target.
	Env string `json:"env,omitempty"`
	// Mode, UID and GID apply to cache and secret mounts; nil means default.
	Mode *uint32 `json:"mode,omitempty"`
	UID  *int    `json:"uid,omitempty"`
	GID  *int    `json:"gid,omitempty"`
	// Size limits a tmpfs mount in bytes; 0 is the kernel default.
	Size int64 `json:"size,omitempty"`
	// Files is, for a bind mount of the build context (or a named
	// context), what it shows of Source after the ignore files (Dst
	// relative to Source, as "/x/y"): the runtime hides everything else,
	// as BuildKit's context does. For a cache mount from a named
	// context, what the cache starts with.
	Files []CopyFile `json:"files,omitempty"`
}

// Copy copies files from the build context or from another target into the
// image.
type Copy struct {
	// Sources are the patterns as written (Docker COPY semantics: a
	// directory copies its contents; globs * ** ?).
	Sources []string `json:"sources"`
	// Dest is absolute; a trailing "/" means a directory.
	Dest string `json:"dest"`
	// InWorkdir says Dest (and each file's Dst) was written relative to
	// a working directory the plan does not know, the base image's: it is
	// given as if that directory were "/", and an engine moves it below
	// the image's working directory when the step runs.
	InWorkdir bool `json:"in_workdir,omitempty"`
	// FromTarget names the target whose filesystem the sources are read
	// from (then absolute paths in it); empty means the build context.
	FromTarget string `json:"from,omitempty"`
	// Context is the absolute build context directory (context copies).
	Context string `json:"context,omitempty"`
	// NamedContext says Context is a named context (--build-context),
	// read with its own ignore file, not the build context's.
	NamedContext bool     `json:"named_context,omitempty"`
	Exclude      []string `json:"exclude,omitempty"`
	// Chown is "user[:group]" as written; Chmod is octal ("0755") or empty.
	Chown   string `json:"chown,omitempty"`
	Chmod   string `json:"chmod,omitempty"`
	Link    bool   `json:"link,omitempty"`
	Parents bool   `json:"parents,omitempty"`
	// Files is the resolved list for context copies, in the order they are
	// written, after ignore files and Exclude. Empty for FromTarget copies,
	// which the runtime resolves once the source target is built.
	Files []CopyFile `json:"files,omitempty"`
	// Content is, for an inline file (copy { content = ... }, a
	// Dockerfile's COPY <<EOF), the file's text: Sources is then its one
	// name, Files its one entry (mode 0644, the text's digest), and
	// neither the context nor a target is read. As BuildKit's
	// llb.Mkfile, the file lands in Dest, or in Dest/NAME when Dest ends
	// in "/" or is a directory of the image.
	Content *string `json:"content,omitempty"`
	Origin  Origin  `json:"source"`
	// Definition is as in Run.
	Definition *Origin `json:"definition,omitempty"`
}

func (*Copy) Kind() StepKind   { return StepCopy }
func (c *Copy) Source() Origin { return c.Origin }

// CopyFile is one resolved copy entry.
type CopyFile struct {
	// Src is the path relative to the context root, slash-separated.
	Src string `json:"src"`
	// Dst is the absolute destination path in the image.
	Dst string `json:"dst"`
	// Mode is the source's type and permission bits (fs.ModeDir,
	// fs.ModeSymlink, or a regular file).
	Mode fs.FileMode `json:"mode"`
	Size int64       `json:"size,omitempty"`
	// Digest is "sha256:..." of a regular file's content.
	Digest string `json:"digest,omitempty"`
	// LinkTarget is a symlink's target.
	LinkTarget string `json:"link_target,omitempty"`
	// ModTime is the source's mtime when the plan listed it, which the
	// layer's entry gets: the build then needs no second stat of each
	// file. It is in no key and not saved with a plan; a file without it
	// (from a saved plan) is stat'ed again.
	ModTime time.Time `json:"-"`
}

// Add is Docker's ADD: a local file or archive, or a URL checked against its
// checksum.
type Add struct {
	URL      string `json:"url,omitempty"`
	Checksum string `json:"checksum,omitempty"`
	// Git is a git checkout, the third kind of source.
	Git *GitSource `json:"git,omitempty"`
	// Sources and Files are as in Copy, for local sources.
	Sources []string   `json:"sources,omitempty"`
	Context string     `json:"context,omitempty"`
	Files   []CopyFile `json:"files,omitempty"`
	Dest    string     `json:"dest"`
	// InWorkdir is as in Copy.
	InWorkdir bool `json:"in_workdir,omitempty"`
	// Extract unpacks a source that is a tar archive (plain, gzip, xz,
	// bzip2 or zstd); a source that is no archive is copied as it is.
	Extract bool   `json:"extract,omitempty"`
	Chown   string `json:"chown,omitempty"`
	Chmod   string `json:"chmod,omitempty"`
	// Link and Exclude are as in Copy.
	Link    bool     `json:"link,omitempty"`
	Exclude []string `json:"exclude,omitempty"`
	Origin  Origin   `json:"source"`
	// Definition is as in Run.
	Definition *Origin `json:"definition,omitempty"`
}

// Pending is the remote source whose content the step's key does not
// see yet (a URL without a checksum, a git ref not resolved to a commit),
// or "": the compiler resolves it only when it is given a fetcher (a
// build, not a plan), and no engine builds a plan with one.
func (a *Add) Pending() string {
	if a.URL != "" && a.Checksum == "" {
		return a.URL
	}
	if a.Git != nil && a.Git.Commit == "" {
		return a.Git.String()
	}
	return ""
}

// GitSource is a git repository's tree at a ref.
type GitSource struct {
	Remote string `json:"remote"`
	// Ref is as written ("" is HEAD); Commit is what it named when the
	// compiler resolved it, the key's input ("" until then).
	Ref        string `json:"ref,omitempty"`
	Commit     string `json:"commit,omitempty"`
	Subdir     string `json:"subdir,omitempty"`
	KeepGitDir bool   `json:"keep_git_dir,omitempty"`
	// SkipSubmodules leaves the submodules out (checked out by default).
	SkipSubmodules bool `json:"skip_submodules,omitempty"`
	// Verify says Commit was pinned as written, not resolved: the build
	// checks that Ref names it before anything runs.
	Verify bool `json:"verify,omitempty"`
}

// String is the source as Docker writes it: REMOTE#REF:SUBDIR.
func (g *GitSource) String() string {
	s := g.Remote
	if g.Ref != "" || g.Subdir != "" {
		s += "#" + g.Ref
	}
	if g.Subdir != "" {
		s += ":" + g.Subdir
	}
	return s
}

// PendingSource is the first pending remote source of l's steps, or "".
func (l *Layer) PendingSource() string {
	for _, st := range l.Steps {
		if a, ok := st.(*Add); ok && a.Pending() != "" {
			return a.Pending()
		}
	}
	return ""
}

func (*Add) Kind() StepKind   { return StepAdd }
func (a *Add) Source() Origin { return a.Origin }

// Mkdir creates a directory and its missing parents, mode 0755, owned by
// User (empty: the base image's user), as BuildKit's WORKDIR does. A user
// name resolves through the image's /etc/passwd, with its primary group.
type Mkdir struct {
	// Path is absolute; it may hold $VAR references to the base image's
	// env, which the runtime expands as it does a workdir's.
	Path   string `json:"path"`
	User   string `json:"user,omitempty"`
	Origin Origin `json:"source"`
}

func (*Mkdir) Kind() StepKind   { return StepMkdir }
func (m *Mkdir) Source() Origin { return m.Origin }

// ImageConfig is what a target sets of its image config. It never enters a
// key. The runtime merges it over the base image's config as Docker does:
// Env by name, Labels by key, ExposedPorts and Volumes as sets, and setting
// Entrypoint clears an inherited Cmd.
type ImageConfig struct {
	Env        []string `json:"env,omitempty"`
	Workdir    string   `json:"workdir,omitempty"`
	User       string   `json:"user,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	// EntrypointSet and CmdSet tell "set to empty" from "not set".
	EntrypointSet bool              `json:"entrypoint_set,omitempty"`
	Cmd           []string          `json:"cmd,omitempty"`
	CmdSet        bool              `json:"cmd_set,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	// BaseEnvLabels are labels whose values name variables of the base
	// image's environment ($$ a literal $), expanded when the image is
	// built (a Dockerfile's LABEL p=$PATH); Labels are literal.
	BaseEnvLabels map[string]string `json:"base_env_labels,omitempty"`
	ExposedPorts  []string          `json:"expose,omitempty"`
	Volumes       []string          `json:"volumes,omitempty"`
	StopSignal    string            `json:"stop_signal,omitempty"`
	Healthcheck   *Healthcheck      `json:"healthcheck,omitempty"`
	Shell         []string          `json:"shell,omitempty"`
	OnBuild       []string          `json:"onbuild,omitempty"`
	// Author is the config file's author (Dockerfile MAINTAINER).
	Author string `json:"author,omitempty"`
}

// Healthcheck is the image config's healthcheck; durations are Go durations.
type Healthcheck struct {
	Test          []string `json:"test"`
	Interval      string   `json:"interval,omitempty"`
	Timeout       string   `json:"timeout,omitempty"`
	StartPeriod   string   `json:"start_period,omitempty"`
	StartInterval string   `json:"start_interval,omitempty"`
	Retries       int      `json:"retries,omitempty"`
}

// Optimization is one thing an optimizer pass did (Applied) or would do at a
// higher level (not Applied).
type Optimization struct {
	Pass    string   `json:"pass"`
	Detail  string   `json:"detail"`
	Origins []Origin `json:"source"`
	Applied bool     `json:"applied"`
}

// Status is a layer's cache status, as an engine's Explain reports it.
type Status struct {
	Hit    bool   `json:"hit"`
	Reason string `json:"reason,omitempty"`
	// Empty is true for a hit whose diff was empty when it was built: the
	// runtime leaves it out of the image.
	Empty bool `json:"empty,omitempty"`
	// Skipped is true for a layer of a stage that the build will not
	// make, because nothing needs it: not cached (Reason says why) or a
	// hit that is not read either.
	Skipped bool `json:"skipped,omitempty"`
	// From names the imported cache (--cache-from) a hit comes from;
	// empty for the local cache.
	From string `json:"from,omitempty"`
}

// NoPlatformError is a base image (an index) that has no image for the
// platform a build asks for.
type NoPlatformError struct {
	Index string // the index: its digest or reference
	Want  Platform
	Have  []string // the platforms it has
	// Single is set for an image of one platform, not an index.
	Single bool
}

func (e *NoPlatformError) Error() string {
	if e.Single {
		return fmt.Sprintf("the image %s is for %s, not %s", e.Index, strings.Join(e.Have, ", "), e.Want)
	}
	return fmt.Sprintf("the index %s has no image for %s; it has %s", e.Index, e.Want, strings.Join(e.Have, ", "))
}

// InImageWorkdir moves dest, a destination given as if the working
// directory wd were "/" (Copy.InWorkdir), below wd; a trailing "/" stays.
// An empty wd is "/".
func InImageWorkdir(wd, dest string) string {
	if wd == "" || wd == "/" || !strings.HasPrefix(dest, "/") {
		return dest
	}
	p := path.Join(wd, dest)
	if strings.HasSuffix(dest, "/") && p != "/" {
		p += "/"
	}
	return p
}
