package buildkit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgc-dev/imgc/engine/imageconfig"
	"github.com/imgc-dev/imgc/internal/chmod"
	"github.com/imgc-dev/imgc/ir"
)

// ociStoreID names imgc's store when it is served to the daemon as a
// session OCI store (bases from oci: and docker-archive: layouts).
const ociStoreID = "imgc"

// lowered is a target lowered to LLB: its final filesystem, its config
// and, per layer, the names of the vertexes that make it.
type lowered struct {
	t     *ir.Target
	state llb.State
	// base is the base image's config (after its own target's config, for
	// a target base); cfg is what the image's config starts from.
	base v1.ConfigFile
	// baseLayers is how many layers the daemon exports below the target's
	// own: one per layer of the base chain, empty ones included.
	baseLayers int
}

// lowering turns a plan's targets into LLB states.
type lowering struct {
	p        *ir.Plan
	o        lowerOptions
	targets  map[string]*lowered
	vertexes map[string]vertexRef
	// locals maps a local's name to its directory, for the session.
	locals map[string]string
	n      int
}

type lowerOptions struct {
	noCache bool
	forced  map[*ir.Layer]string
	context string
	// localName, in a frontend, is the one local the session serves the
	// build context as ("context"), with sessionID; empty means a local of
	// its own per copy step, served by the client (see Build).
	localName, sessionID string
	// proxy is the proxy environment of every run step (see
	// engine.BuildOptions.ProxyEnv), nil when none.
	proxy *llb.ProxyEnv
	// native is the daemon's own platform: a cache mount without an id is
	// the daemon's for it, and another platform's has the platform in its
	// id, as the local engine keeps them.
	native ir.Platform
}

// vertexRef is what a vertex name stands for.
type vertexRef struct {
	target string
	layer  *ir.Layer
	// origin is the step's source line (the layer's for its own vertexes).
	origin ir.Origin
}

func newLowering(p *ir.Plan, o lowerOptions) *lowering {
	return &lowering{p: p, o: o, targets: map[string]*lowered{}, vertexes: map[string]vertexRef{}, locals: map[string]string{}}
}

func llbPlatform(pl ir.Platform) ocispecs.Platform {
	return ocispecs.Platform{OS: pl.OS, Architecture: pl.Architecture, Variant: pl.Variant}
}

// name returns a unique vertex name for a layer of t and remembers it.
func (lw *lowering) name(t *ir.Target, l *ir.Layer, origin ir.Origin, what string) string {
	lw.n++
	s := fmt.Sprintf("[%s %d] %s %s", t.Name, lw.n, imageconfig.RelativeOrigin(imageconfig.ProjectDir(lw.p.Project), origin), l.CreatedBy)
	if what != "" {
		s += " (" + what + ")"
	}
	lw.vertexes[s] = vertexRef{target: t.Name, layer: l, origin: origin}
	return s
}

// target lowers t on its base's state and config.
func (lw *lowering) target(t *ir.Target, base llb.State, baseCfg v1.ConfigFile, baseLayers int) (*lowered, error) {
	lt := &lowered{t: t, base: baseCfg, baseLayers: baseLayers}
	cur := base
	for _, l := range t.Layers {
		st, err := lw.layer(t, l, cur, baseCfg)
		if err != nil {
			return nil, err
		}
		cur = st
	}
	lt.state = cur
	lw.targets[t.Name] = lt
	return lt, nil
}

// layer lowers one layer over parent. A layer of one step is that step's
// vertex; a layer of several steps (a `layer` block or a merged layer) runs
// them on a content-equal but unrelated copy of parent and attaches their
// difference with Diff and Merge, so that it exports as one layer.
func (lw *lowering) layer(t *ir.Target, l *ir.Layer, parent llb.State, baseCfg v1.ConfigFile) (llb.State, error) {
	cons := []llb.ConstraintsOpt{llb.Platform(llbPlatform(t.Platform))}
	if l.NoCache || lw.o.noCache || lw.o.forced[l] != "" {
		cons = append(cons, llb.IgnoreCache)
	}
	if len(l.Steps) <= 1 {
		cur := parent
		for _, st := range l.Steps {
			next, err := lw.step(t, l, st, cur, baseCfg, append(cons, llb.WithCustomName(lw.name(t, l, st.Source(), ""))))
			if err != nil {
				return llb.State{}, err
			}
			cur = next
		}
		return cur, nil
	}
	// The steps run on a copy of the parent: the same content, but no
	// ancestry in common with it. Their result's difference from the parent
	// is then computed from the content, one layer, where a Diff from an
	// ancestor would export the steps' chain, one layer per step (with the
	// files a later step deletes).
	lower := llb.Scratch()
	if parent.Output() != nil {
		lower = lower.File(llb.Copy(parent, "/", "/", &llb.CopyInfo{CopyDirContentsOnly: true}),
			append(cons, llb.WithCustomName(lw.name(t, l, l.Origin, "lower")))...)
	}
	cur := lower
	for i, st := range l.Steps {
		next, err := lw.step(t, l, st, cur, baseCfg, append(cons, llb.WithCustomName(lw.name(t, l, st.Source(), fmt.Sprintf("step %d of %d", i+1, len(l.Steps))))))
		if err != nil {
			return llb.State{}, err
		}
		cur = next
	}
	diff := llb.Diff(parent, cur, append(cons, llb.WithCustomName(lw.name(t, l, l.Origin, "diff")))...)
	return llb.Merge([]llb.State{parent, diff}, append(cons, llb.WithCustomName(lw.name(t, l, l.Origin, "layer")))...), nil
}

// step lowers one step over cur. Each step starts from a state without
// inherited user, working directory or environment: imgc's steps are
// fully resolved against the base's config, as the local engine resolves
// them.
func (lw *lowering) step(t *ir.Target, l *ir.Layer, st ir.Step, cur llb.State, baseCfg v1.ConfigFile, cons []llb.ConstraintsOpt) (llb.State, error) {
	fresh := llb.NewState(cur.Output())
	switch st := st.(type) {
	case *ir.Run:
		return lw.run(t, st, fresh, baseCfg, cons)
	case *ir.Copy:
		return lw.copyStep(t, st, fresh, baseCfg, cons)
	case *ir.Add:
		return lw.add(t, st, fresh, baseCfg, cons)
	case *ir.Mkdir:
		return mkdir(st, fresh, baseCfg, cons), nil
	}
	return llb.State{}, fmt.Errorf("lowering %s: unknown step kind %q", t.Name, st.Kind())
}

func (lw *lowering) run(t *ir.Target, r *ir.Run, st llb.State, baseCfg v1.ConfigFile, cons []llb.ConstraintsOpt) (llb.State, error) {
	env, user, cwd := imageconfig.RunContext(baseCfg.Config, r)
	st = st.Dir(cwd)
	if user != "" {
		st = st.User(user)
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		st = st.AddEnv(k, v)
	}
	opts := []llb.RunOption{llb.Args(r.Argv)}
	if lw.o.proxy != nil {
		// As BuildKit's Dockerfile frontend: out of the key.
		opts = append(opts, llb.WithProxy(*lw.o.proxy))
	}
	switch r.Network {
	case ir.NetworkNone:
		opts = append(opts, llb.Network(pb.NetMode_NONE))
	case ir.NetworkHost:
		opts = append(opts, llb.Network(pb.NetMode_HOST))
	}
	if r.Security == ir.SecurityInsecure {
		opts = append(opts, llb.Security(pb.SecurityMode_INSECURE))
	}
	for _, d := range r.Devices {
		// As BuildKit's Dockerfile frontend lowers RUN --device.
		do := []llb.CDIDeviceOption{llb.CDIDeviceName(d.Name)}
		if !d.Required {
			do = append(do, llb.CDIDeviceOptional)
		}
		opts = append(opts, llb.AddCDIDevice(do...))
	}
	for _, m := range r.Mounts {
		o, err := lw.mount(t, r, m)
		if err != nil {
			return llb.State{}, err
		}
		opts = append(opts, o)
	}
	if s := r.Script; s != nil {
		// As BuildKit's Dockerfile frontend runs a heredoc with #!.
		file := llb.Scratch().Dir("/").File(llb.Mkfile(s.Name, 0o755, []byte(s.Text)))
		opts = append(opts, llb.AddMount(ir.ScriptDir+"/", file, llb.SourcePath("/"), llb.Readonly))
	}
	for _, c := range cons {
		opts = append(opts, c)
	}
	return st.Run(opts...).Root(), nil
}

func (lw *lowering) mount(t *ir.Target, r *ir.Run, m ir.Mount) (llb.RunOption, error) {
	switch m.Type {
	case ir.MountCache:
		sharing := llb.CacheMountShared
		switch m.Sharing {
		case "private":
			sharing = llb.CacheMountPrivate
		case "locked":
			sharing = llb.CacheMountLocked
		}
		id := cacheID(m, t.Platform, lw.o.native)
		if m.Context != "" && m.Mode == nil && m.UID == nil && m.GID == nil {
			// Started from a named directory, as BuildKit's Dockerfile
			// frontend mounts it (the daemon keys the cache by id and
			// this source).
			source := strings.TrimPrefix(path.Clean("/"+m.Source), "/")
			loc := lw.local(m.Context, mountPaths(source, m.Files))
			return llb.AddMount(m.Target, loc, llb.SourcePath("/"+source), llb.AsPersistentCacheDir("imgc-"+id, sharing)), nil
		}
		src := llb.Scratch()
		if m.Mode != nil || m.UID != nil || m.GID != nil {
			mode := fs.FileMode(0o755)
			if m.Mode != nil {
				mode = fs.FileMode(*m.Mode)
			}
			uid, gid := 0, 0
			if m.UID != nil {
				uid = *m.UID
			}
			if m.GID != nil {
				gid = *m.GID
			}
			src = llb.Scratch().File(llb.Mkdir("/cache", mode, llb.WithUIDGID(uid, gid)))
			return llb.AddMount(m.Target, src, llb.SourcePath("/cache"), llb.AsPersistentCacheDir("imgc-"+id, sharing)), nil
		}
		return llb.AddMount(m.Target, src, llb.AsPersistentCacheDir("imgc-"+id, sharing)), nil
	case ir.MountSecret:
		var sopts []llb.SecretOption
		sopts = append(sopts, llb.SecretID(m.ID))
		if !m.Required {
			sopts = append(sopts, llb.SecretOptional)
		}
		if m.Env != "" {
			sopts = append(sopts, llb.SecretAsEnvName(m.Env))
			var dest *string
			if m.Target != "" {
				d := m.Target
				dest = &d
			}
			if dest != nil {
				sopts = append(sopts, secretFileOpt(m))
			}
			return llb.AddSecretWithDest(m.ID, dest, sopts...), nil
		}
		sopts = append(sopts, secretFileOpt(m))
		return llb.AddSecret(m.Target, sopts...), nil
	case ir.MountSSH:
		return sshMount(m), nil
	case ir.MountTmpfs:
		var topts []llb.TmpfsOption
		if m.Size > 0 {
			topts = append(topts, llb.TmpfsSize(m.Size))
		}
		return llb.AddMount(m.Target, llb.Scratch(), llb.Tmpfs(topts...)), nil
	case ir.MountBind:
		mopts := []llb.MountOption{}
		if m.ReadOnly {
			mopts = append(mopts, llb.Readonly)
		} else {
			mopts = append(mopts, llb.ForceNoOutput)
		}
		if m.FromTarget != "" {
			src := lw.targets[m.FromTarget]
			if src == nil {
				return nil, fmt.Errorf("lowering %s: bind mount from %s, which is not lowered yet", t.Name, m.FromTarget)
			}
			if s := strings.TrimPrefix(path.Clean("/"+m.Source), "/"); s != "" {
				mopts = append(mopts, llb.SourcePath("/"+s))
			}
			return llb.AddMount(m.Target, src.state, mopts...), nil
		}
		source := strings.TrimPrefix(path.Clean("/"+m.Source), "/")
		loc := lw.local(m.Context, mountPaths(source, m.Files))
		if source != "" {
			mopts = append(mopts, llb.SourcePath("/"+source))
		}
		return llb.AddMount(m.Target, loc, mopts...), nil
	}
	return nil, fmt.Errorf("lowering %s (%s): unknown mount type %q", t.Name, r.Origin, m.Type)
}

// cacheID is the id of a cache mount of a step of platform p: its own id,
// or, without one (the front ends make it the target), the target, with
// "@" and the platform unless p is the daemon's native platform (or not
// known): what compilers and package managers cache is per architecture.
// This is the local engine's choice (engine/local cacheMount).
func cacheID(m ir.Mount, p, native ir.Platform) string {
	if m.ID != "" && m.ID != m.Target {
		return m.ID
	}
	id := m.Target
	if p.OS != "" && native.OS != "" && p.String() != native.String() {
		id += "@" + p.String()
	}
	return id
}

func secretFileOpt(m ir.Mount) llb.SecretOption {
	uid, gid, mode := 0, 0, 0o400
	if m.UID != nil {
		uid = *m.UID
	}
	if m.GID != nil {
		gid = *m.GID
	}
	if m.Mode != nil {
		mode = int(*m.Mode)
	}
	return llb.SecretFileOpt(uid, gid, mode)
}

// local returns a source of dir (the build context when "": a module's
// directory or a named context otherwise) that holds only the given paths
// (and the directories above them): what the IR resolved after the ignore
// files. Each gets its own name, so the daemon syncs each set separately.
// A frontend serves only the build context.
func (lw *lowering) local(dir string, include []string) llb.State {
	sort.Strings(include)
	h := sha256.Sum256([]byte(strings.Join(include, "\x00")))
	hint := llb.SharedKeyHint("imgc-" + hex.EncodeToString(h[:8]))
	if lw.o.localName != "" {
		return llb.Local(lw.o.localName, llb.IncludePatterns(include), hint, llb.SessionID(lw.o.sessionID))
	}
	name := fmt.Sprintf("context-%d", len(lw.locals))
	if dir == "" {
		dir = lw.o.context
	}
	lw.locals[name] = dir
	return llb.Local(name, llb.IncludePatterns(include), hint)
}

// contextPaths are the include patterns for a copy's resolved files:
// every file, and the directories nothing else lies under.
func contextPaths(files []ir.CopyFile) []string {
	var out []string
	for i, f := range files {
		if f.Mode.IsDir() {
			prefix := strings.TrimSuffix(f.Src, "/") + "/"
			hasChild := false
			for j, g := range files {
				if j != i && strings.HasPrefix(g.Src, prefix) {
					hasChild = true
					break
				}
			}
			if hasChild {
				continue
			}
		}
		out = append(out, escapePattern(f.Src))
	}
	if len(out) == 0 {
		out = []string{".imgc-nothing"}
	}
	return out
}

// escapePattern makes a path a literal pattern.
func escapePattern(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(p)
}

func (lw *lowering) copyStep(t *ir.Target, c *ir.Copy, st llb.State, baseCfg v1.ConfigFile, cons []llb.ConstraintsOpt) (llb.State, error) {
	if c.Content != nil {
		return inlineCopy(c, st, baseCfg, cons)
	}
	var src llb.State
	if c.FromTarget != "" {
		lt := lw.targets[c.FromTarget]
		if lt == nil {
			return llb.State{}, fmt.Errorf("lowering %s: copy from %s, which is not lowered yet", t.Name, c.FromTarget)
		}
		src = lt.state
	} else {
		src = lw.local(c.Context, contextPaths(c.Files))
	}
	info, err := copyInfo(c.Chmod, c.Exclude)
	if err != nil {
		return llb.State{}, fmt.Errorf("%s: %w", c.Origin, err)
	}
	dest := expandDest(baseCfg.Config.Env, c.Dest)
	if c.InWorkdir {
		dest = ir.InImageWorkdir(baseCfg.Config.WorkingDir, dest)
	}
	fa := chmodParents(dest, c.Chmod, c.Chown, copiesDirAt(c.Files, c.Dest))
	for _, s := range c.Sources {
		opts := []llb.CopyOption{info}
		if c.Chown != "" {
			opts = append(opts, llb.WithUser(c.Chown))
		}
		p := s
		if c.FromTarget == "" {
			p = "/" + strings.TrimPrefix(path.Clean("/"+s), "/")
			if strings.HasSuffix(s, "/") && p != "/" {
				p += "/"
			}
		}
		if c.Parents {
			// As BuildKit's Dockerfile frontend does COPY --parents: the
			// path below the pivot ("/./", else the root) is kept.
			pi := *info
			parent, pattern, ok := strings.Cut(s, "/./")
			if !ok {
				parent, pattern = "/", s
			}
			pi.IncludePatterns = []string{strings.TrimPrefix(path.Clean("/"+pattern), "/")}
			if !strings.ContainsAny(s, "*?[") {
				pi.RequiredPaths = []string{path.Join("/", parent, pattern)}
			}
			p = "/" + strings.TrimPrefix(path.Clean("/"+parent), "/")
			opts[0] = &pi
		}
		if fa == nil {
			fa = llb.Copy(src, p, dest, opts...)
		} else {
			fa = fa.Copy(src, p, dest, opts...)
		}
	}
	if fa == nil {
		return st, nil
	}
	return st.File(fa, cons...), nil
}

func copyInfo(chmod string, exclude []string) (*llb.CopyInfo, error) {
	info := &llb.CopyInfo{
		FollowSymlinks:      true,
		CopyDirContentsOnly: true,
		CreateDestPath:      true,
		AllowWildcard:       true,
		AllowEmptyWildcard:  true,
		ExcludePatterns:     exclude,
	}
	mode, err := chmodOpt(chmod)
	if err != nil {
		return nil, err
	}
	info.Mode = mode
	return info, nil
}

// chmodOpt is a copy's chmod for BuildKit: an octal mode, or a symbolic
// one BuildKit applies to each file's mode; nil for none.
func chmodOpt(s string) (*llb.ChmodOpt, error) {
	c, err := chmod.Parse(s)
	if err != nil || c == nil {
		return nil, err
	}
	if n, ok := c.Octal(); ok {
		return &llb.ChmodOpt{Mode: os.FileMode(n)}, nil
	}
	return &llb.ChmodOpt{ModeStr: s}, nil
}

// chmodParents makes the directories a copy with chmod creates, 0755 as
// Docker and the local engine make them: BuildKit would give them the
// chmod mode (a 0640 directory nobody can enter). When a directory is
// copied to dest itself (dirAtDest), dest is that directory, which takes
// the chmod mode as in BuildKit's Dockerfile frontend: only its parents
// are made here.
func chmodParents(dest, chmod, chown string, dirAtDest bool) *llb.FileAction {
	if chmod == "" {
		return nil
	}
	dir := strings.TrimSuffix(dest, "/")
	if !strings.HasSuffix(dest, "/") || dirAtDest {
		dir = path.Dir(dir)
	}
	if dir == "" || dir == "/" {
		return nil
	}
	opts := []llb.MkdirOption{llb.WithParents(true)}
	if chown != "" {
		opts = append(opts, llb.WithUser(chown))
	}
	return llb.Mkdir(dir, 0o755, opts...)
}

// copiesDirAt reports whether a copy's resolved files put a directory at
// dest itself (COPY dir /dest/); false when they are not resolved in the
// plan (a copy from another target).
func copiesDirAt(files []ir.CopyFile, dest string) bool {
	for _, f := range files {
		if f.Mode.IsDir() && path.Clean(f.Dst) == path.Clean(dest) {
			return true
		}
	}
	return false
}

// expandDest expands base-image variables in a destination, keeping a
// trailing slash.
func expandDest(env []string, dest string) string {
	x := imageconfig.ExpandWorkdir(env, dest)
	if x == "" {
		x = dest
	}
	if strings.HasSuffix(dest, "/") && !strings.HasSuffix(x, "/") {
		x += "/"
	}
	return x
}

func (lw *lowering) add(t *ir.Target, a *ir.Add, st llb.State, baseCfg v1.ConfigFile, cons []llb.ConstraintsOpt) (llb.State, error) {
	info, err := copyInfo(a.Chmod, a.Exclude)
	if err != nil {
		return llb.State{}, fmt.Errorf("%s: %w", a.Origin, err)
	}
	dest := expandDest(baseCfg.Config.Env, a.Dest)
	if a.InWorkdir {
		dest = ir.InImageWorkdir(baseCfg.Config.WorkingDir, dest)
	}
	var opts []llb.CopyOption
	if a.Chown != "" {
		opts = append(opts, llb.WithUser(a.Chown))
	}
	if a.URL != "" {
		name := "__unnamed__"
		if u, err := url.Parse(a.URL); err == nil {
			if b := path.Base(u.Path); b != "." && b != "/" {
				name = b
			}
		}
		hopts := []llb.HTTPOption{llb.Filename(name)}
		if a.Checksum != "" {
			d, err := digest.Parse(a.Checksum)
			if err != nil {
				return llb.State{}, fmt.Errorf("%s: checksum %q: %w", a.Origin, a.Checksum, err)
			}
			hopts = append(hopts, llb.Checksum(d))
		}
		info.FollowSymlinks, info.CopyDirContentsOnly, info.AllowWildcard = false, false, false
		src := llb.HTTP(a.URL, hopts...)
		return st.File(llb.Copy(src, name, dest, append([]llb.CopyOption{info}, opts...)...), cons...), nil
	}
	if g := a.Git; g != nil {
		// The ref as written, checked against the commit the compiler
		// resolved (BuildKit fails the step if the ref moved since).
		gopts := []llb.GitOption{llb.GitRef(g.Ref)}
		if g.Ref == "" {
			gopts = nil
		}
		if g.Commit != "" {
			gopts = append(gopts, llb.GitChecksum(g.Commit))
		}
		if g.KeepGitDir {
			gopts = append(gopts, llb.KeepGitDir())
		}
		if g.SkipSubmodules {
			gopts = append(gopts, llb.GitSkipSubmodules())
		} else if !g.KeepGitDir {
			// A submodule's .git file points into the daemon's snapshot
			// of the superproject's .git, which is left out: leave it
			// out too, as the local engine does.
			info.ExcludePatterns = append(append([]string(nil), info.ExcludePatterns...), "**/.git")
		}
		info.CopyDirContentsOnly = true
		src := llb.Git(g.Remote, "", gopts...)
		return st.File(llb.Copy(src, "/"+g.Subdir, dest, append([]llb.CopyOption{info}, opts...)...), cons...), nil
	}
	info.AttemptUnpack = a.Extract
	src := lw.local(a.Context, contextPaths(a.Files))
	fa := chmodParents(dest, a.Chmod, a.Chown, copiesDirAt(a.Files, a.Dest))
	for _, s := range a.Sources {
		p := "/" + strings.TrimPrefix(path.Clean("/"+s), "/")
		if fa == nil {
			fa = llb.Copy(src, p, dest, append([]llb.CopyOption{info}, opts...)...)
		} else {
			fa = fa.Copy(src, p, dest, append([]llb.CopyOption{info}, opts...)...)
		}
	}
	if fa == nil {
		return st, nil
	}
	return st.File(fa, cons...), nil
}

// sshMount forwards the agent m.ID at m.Target (the compiler gave the
// target and the run's SSH_AUTH_SOCK).
func sshMount(m ir.Mount) llb.RunOption {
	sopts := []llb.SSHOption{llb.SSHID(m.ID)}
	if !m.Required {
		sopts = append(sopts, llb.SSHOptional)
	}
	if m.Mode != nil || m.UID != nil || m.GID != nil {
		uid, gid, mode := 0, 0, 0o600
		if m.UID != nil {
			uid = *m.UID
		}
		if m.GID != nil {
			gid = *m.GID
		}
		if m.Mode != nil {
			mode = int(*m.Mode)
		}
		return llb.AddSSHSocket(append(sopts, llb.SSHSocketOpt(m.Target, uid, gid, mode))...)
	}
	return llb.AddSSHSocket(append(sopts, llb.SSHSocketTarget(m.Target))...)
}

// marshal is the definition of st for the target's platform.
func marshal(ctx context.Context, st llb.State, pl ir.Platform) (*llb.Definition, error) {
	return st.Marshal(ctx, llb.Platform(llbPlatform(pl)))
}

// mkdir lowers a mkdir step as BuildKit's Dockerfile frontend lowers a
// WORKDIR: a mkdir with parents, mode 0755, as the user.
func mkdir(m *ir.Mkdir, st llb.State, baseCfg v1.ConfigFile, cons []llb.ConstraintsOpt) llb.State {
	p := imageconfig.ExpandWorkdir(baseCfg.Config.Env, m.Path)
	if p == "/" {
		return st
	}
	user := m.User
	if user == "" {
		user = baseCfg.Config.User
	}
	opts := []llb.MkdirOption{llb.WithParents(true)}
	if user != "" {
		opts = append(opts, llb.WithUser(user))
	}
	return st.File(llb.Mkdir(p, 0o755, opts...), cons...)
}

// mountPaths are the include patterns of a mount of source in a context
// directory showing files (Dst relative to source): a pattern matching
// nothing when there are none.
func mountPaths(source string, files []ir.CopyFile) []string {
	var include []string
	for _, f := range files {
		include = append(include, path.Join(source, strings.TrimPrefix(f.Dst, "/")))
	}
	if len(include) == 0 {
		include = []string{path.Join(source, ".imgc-nothing")}
	}
	return include
}

// llbProxy is a proxy environment (engine.BuildOptions.ProxyEnv) as LLB's,
// nil when it is empty.
func llbProxy(env []string) *llb.ProxyEnv {
	if len(env) == 0 {
		return nil
	}
	var p llb.ProxyEnv
	for _, kv := range env {
		name, v, _ := strings.Cut(kv, "=")
		switch name {
		case "HTTP_PROXY":
			p.HTTPProxy = v
		case "HTTPS_PROXY":
			p.HTTPSProxy = v
		case "FTP_PROXY":
			p.FTPProxy = v
		case "NO_PROXY":
			p.NoProxy = v
		case "ALL_PROXY":
			p.AllProxy = v
		}
	}
	return &p
}
