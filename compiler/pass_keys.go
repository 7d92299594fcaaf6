package compiler

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/imgc-dev/imgc/ir"
)

// computeKeys sets every base key and layer key, in build order: a layer's
// key is ir.LayerKey(parent, inputs), its inputs named for people (see
// stepInputs); a target built on another starts from ir.TargetBaseKey,
// which adds the env and user the other's config passes on. It is safe because it only adds keys and changes no step.
// Required: the runtime reuses layers by key.
func computeKeys(s *state, p *ir.Plan) *ir.Plan {
	out := &ir.Plan{Project: p.Project, Optimizations: p.Optimizations}
	keys := map[string]ir.CacheKey{}
	bases := map[string]ir.CacheKey{}
	for _, t := range p.Targets {
		nt := *t
		nt.Base.Key = baseKey(t.Base, t.Platform, bases)
		nt.Layers = recomputeLayers(s, t.Layers, nt.Base.Key, keys)
		keys[nt.Name] = nt.Key()
		bases[nt.Name] = ir.TargetBaseKey(nt.Key(), nt.Config)
		out.Targets = append(out.Targets, &nt)
	}
	return out
}

// recomputeLayers returns copies of layers keyed on parent, for passes
// that rebuild a layer chain.
func recomputeLayers(s *state, layers []*ir.Layer, parent ir.CacheKey, targetKeys map[string]ir.CacheKey) []*ir.Layer {
	out := make([]*ir.Layer, len(layers))
	for i, l := range layers {
		nl := *l
		nl.Inputs = layerInputs(s, l, targetKeys)
		nl.Parent = parent
		nl.Key = ir.LayerKey(parent, nl.Inputs)
		if len(l.Merged) > 0 {
			// Each merged step keeps the key it would have unmerged.
			nl.Merged = make([]ir.CacheKey, len(l.Steps))
			k := parent
			for j, step := range l.Steps {
				k = ir.LayerKey(k, withEpoch(s, stepInputs(s, step, targetKeys)))
				nl.Merged[j] = k
			}
		}
		parent = nl.Key
		out[i] = &nl
	}
	return out
}

func baseKey(b ir.Base, plat ir.Platform, targetKeys map[string]ir.CacheKey) ir.CacheKey {
	switch b.Kind {
	case ir.BaseScratch:
		return ir.ScratchKey(plat)
	case ir.BaseTarget:
		k, ok := targetKeys[b.Target]
		if !ok {
			panic(fmt.Sprintf("base target %q has no key yet: build order broken", b.Target))
		}
		return k
	}
	if b.Digest != "" {
		return ir.DigestBaseKey(b.Digest, plat)
	}
	return ir.TagBaseKey(b.Ref.Qualified(), plat)
}

// layerInputs lists a layer's key inputs; in a layer of several steps each
// name is prefixed "step N: ".
func layerInputs(s *state, l *ir.Layer, targetKeys map[string]ir.CacheKey) []ir.KeyInput {
	var out []ir.KeyInput
	if len(l.Steps) == 1 {
		out = stepInputs(s, l.Steps[0], targetKeys)
	}
	for i, step := range l.Steps {
		if len(l.Steps) == 1 {
			break
		}
		for _, in := range stepInputs(s, step, targetKeys) {
			in.Name = fmt.Sprintf("step %d: %s", i+1, in.Name)
			out = append(out, in)
		}
	}
	return withEpoch(s, out)
}

// withEpoch adds SOURCE_DATE_EPOCH to a layer's inputs when it is set: the
// runtime clamps the layer's file times to it.
func withEpoch(s *state, in []ir.KeyInput) []ir.KeyInput {
	if e := s.opts.SourceDateEpoch; e != "" {
		in = append(in, ir.KeyInput{Name: "source_date_epoch", Value: e})
	}
	return in
}

// stepInputs is everything about a step that can change its result, and
// nothing else: no source positions, no stage names (a renamed stage keeps
// its cache), no secret contents, no image config.
func stepInputs(s *state, step ir.Step, targetKeys map[string]ir.CacheKey) []ir.KeyInput {
	in := inputs{mask: s.mask}
	switch st := step.(type) {
	case *ir.Run:
		in.add("kind", "run")
		if st.Shell {
			in.add("shell", jsonList(st.Argv[:len(st.Argv)-1]))
			in.add("command", st.Command)
		} else {
			in.add("exec", jsonList(st.Argv))
		}
		if st.Script != nil {
			in.add("script "+st.Script.Name, st.Script.Text)
		}
		for _, e := range st.Env {
			name, value, _ := strings.Cut(e, "=")
			in.add("env "+name, value)
		}
		in.addNonEmpty("workdir", st.Workdir)
		in.addNonEmpty("user", st.User)
		in.add("network", string(st.Network))
		in.addNonEmpty("security", st.Security)
		for _, d := range st.Devices {
			// As BuildKit's exec op: the name and whether it is optional,
			// never what the host's spec files say.
			v := "optional"
			if d.Required {
				v = "required"
			}
			in.add("device "+d.Name, v)
		}
		for _, m := range st.Mounts {
			in.add("mount "+m.Target, mountText(s, m, targetKeys))
		}
		in.addNonEmpty("cache_key", st.CacheKey)
	case *ir.Copy:
		in.copyStep(st, targetKeys)
	case *ir.Add:
		in.add("kind", "add")
		in.addNonEmpty("url", st.URL)
		in.addNonEmpty("checksum", st.Checksum)
		if g := st.Git; g != nil {
			// As BuildKit's git source: the commit, not the ref that named it.
			in.add("git remote", g.Remote)
			if g.Commit != "" {
				in.add("git commit", g.Commit)
			} else {
				in.add("git ref", g.Ref)
			}
			in.addNonEmpty("git subdir", g.Subdir)
			in.addTrue("keep_git_dir", g.KeepGitDir)
			// As BuildKit's key: marked only when submodules are left out.
			in.addTrue("skip_submodules", g.SkipSubmodules)
		}
		if len(st.Sources) > 0 {
			in.add("add src", jsonList(st.Sources))
		}
		in.files(st.Files)
		in.add("add dest", st.Dest)
		in.addTrue("dest in the image's working directory", st.InWorkdir)
		if len(st.Exclude) > 0 {
			in.add("exclude", jsonList(st.Exclude))
		}
		in.addTrue("extract", st.Extract)
		in.addNonEmpty("chown", st.Chown)
		in.addNonEmpty("chmod", st.Chmod)
		in.addTrue("link", st.Link)
		in.addTrue("file into an existing directory", mayLandInDir(st.Dest, st.Files, st.Link, st.URL != ""))
		in.addTrue("dest symlinks followed", !st.Link) // as a copy's
	case *ir.Mkdir:
		in.add("kind", "mkdir")
		in.add("mkdir path", st.Path)
		in.addNonEmpty("user", st.User)
	default:
		panic(fmt.Sprintf("no key inputs for step type %T", step))
	}
	return in.list
}

// copyStep adds a copy step's inputs (see stepInputs).
func (in *inputs) copyStep(st *ir.Copy, targetKeys map[string]ir.CacheKey) {
	in.add("kind", "copy")
	in.add("copy src", jsonList(st.Sources))
	in.add("copy dest", st.Dest)
	in.addTrue("dest in the image's working directory", st.InWorkdir)
	if st.FromTarget != "" {
		in.add("source stage", targetKey(targetKeys, st.FromTarget).String())
	}
	in.files(st.Files)
	// The file's text is keyed by its digest, in Files; the text
	// itself goes beside it, for plan's reasons.
	if st.Content != nil && len(st.Files) == 1 && len(*st.Content) <= ir.MaxInputText {
		in.text(*st.Content)
	}
	in.addTrue("inline", st.Content != nil)
	if len(st.Exclude) > 0 {
		in.add("exclude", jsonList(st.Exclude))
	}
	in.addNonEmpty("chown", st.Chown)
	in.addNonEmpty("chmod", st.Chmod)
	in.addTrue("link", st.Link)
	in.addTrue("parents", st.Parents)
	in.addTrue("file into an existing directory", mayLandInDir(st.Dest, st.Files, st.Link, st.FromTarget != ""))
	// A destination that is a symlink in the image is followed, also
	// when it dangles or points at a file, as in BuildKit; imgc before
	// wrote over such a symlink, and this keys its layers apart.
	in.addTrue("dest symlinks followed", !st.Link)
}

type inputs struct {
	list []ir.KeyInput
	seen map[string]int
	// mask replaces sensitive values in names and values: inputs are
	// shown by plan and stored with the build.
	mask func(string) string
}

// add appends an input; a repeated name gets " (2)", " (3)"... so names
// stay unique for the reason engine.
func (in *inputs) add(name, value string) {
	if in.seen == nil {
		in.seen = map[string]int{}
	}
	if in.mask != nil {
		name, value = in.mask(name), in.mask(value)
	}
	in.seen[name]++
	if n := in.seen[name]; n > 1 {
		name = fmt.Sprintf("%s (%d)", name, n)
	}
	in.list = append(in.list, ir.KeyInput{Name: name, Value: value})
}

// text sets the Text of the last input added (ir.KeyInput.Text).
func (in *inputs) text(t string) {
	if in.mask != nil {
		t = in.mask(t)
	}
	in.list[len(in.list)-1].Text = t
}

func (in *inputs) addNonEmpty(name, value string) {
	if value != "" {
		in.add(name, value)
	}
}

func (in *inputs) addTrue(name string, v bool) {
	if v {
		in.add(name, "true")
	}
}

// files adds "file SRC" = "<digest> <mode>" per copied file, with the
// destination when it is not implied by the source name.
func (in *inputs) files(files []ir.CopyFile) {
	for _, f := range files {
		in.add("file "+f.Src, fileText(f))
	}
}

func fileText(f ir.CopyFile) string {
	perm := octal4(uint32(f.Mode.Perm() | f.Mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)))
	var s string
	switch {
	case f.Mode.IsDir():
		s = "dir " + perm
	case f.Mode&fs.ModeSymlink != 0:
		s = "symlink " + f.LinkTarget
	case f.Mode.IsRegular():
		s = f.Digest + " " + perm
	default:
		s = "special " + f.Mode.String()
	}
	return s + " " + f.Dst
}

// octal4 is fmt.Sprintf("%04o", v), without fmt's cost per copied file.
func octal4(v uint32) string {
	s := strconv.FormatUint(uint64(v), 8)
	if len(s) < 4 {
		s = "0000"[len(s):] + s
	}
	return s
}

func targetKey(keys map[string]ir.CacheKey, name string) ir.CacheKey {
	k, ok := keys[name]
	if !ok {
		panic(fmt.Sprintf("target %q has no key yet: build order broken", name))
	}
	return k
}

// mountText is a mount's key material: its type and settings, the key of
// the target it reads from, or the digest of the context files it binds.
// A secret contributes only its id and where it appears.
func mountText(s *state, m ir.Mount, targetKeys map[string]ir.CacheKey) string {
	parts := []string{"type=" + string(m.Type)}
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("id", m.ID)
	add("sharing", m.Sharing)
	add("source", m.Source)
	add("env", m.Env)
	if m.FromTarget != "" {
		add("from", targetKey(targetKeys, m.FromTarget).String())
	} else if m.Type == ir.MountBind || m.Context != "" {
		add("context", s.contextDigest(contextOf(s.context, m.Context), m.Files))
	}
	if m.ReadOnly {
		parts = append(parts, "readonly")
	}
	if m.Required {
		parts = append(parts, "required")
	}
	if m.Mode != nil {
		add("mode", fmt.Sprintf("%04o", *m.Mode))
	}
	if m.UID != nil {
		add("uid", strconv.Itoa(*m.UID))
	}
	if m.GID != nil {
		add("gid", strconv.Itoa(*m.GID))
	}
	if m.Size != 0 {
		add("size", strconv.FormatInt(m.Size, 10))
	}
	return strings.Join(parts, ",")
}

// contextDigest digests what a bind mount from the build context (or
// the named context dir) shows: every path below source with its type,
// mode and content digest. Like a copy's, the key has the content, not
// the directory's path.
func (s *state) contextDigest(dir string, files []ir.CopyFile) string {
	h := sha256.New()
	for _, f := range files {
		if f.Mode.IsRegular() {
			d, err := s.hashes.Digest(filepath.Join(dir, filepath.FromSlash(f.Src)))
			if err != nil {
				s.diags = append(s.diags, errorDiag("Bind mount source not readable", fmt.Sprintf("%v. Make it readable or leave it out with an ignore file.", err), nil))
				return ""
			}
			f.Digest = d
		}
		fmt.Fprintf(h, "%d:%s%d:%s\n", len(f.Src), f.Src, len(fileText(f)), fileText(f))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// mayLandInDir reports whether a copy's file may land inside dest rather
// than at it: a file that is the whole destination, written without a
// trailing "/", goes into a directory the image has there (as in
// BuildKit). Such copies are keyed apart from those of imgc versions that
// replaced the directory with the file, so that their cached layers are
// not reused. Files from another target, and a download, are not listed
// in the plan (unlisted).
func mayLandInDir(dest string, files []ir.CopyFile, link, unlisted bool) bool {
	if link || strings.HasSuffix(dest, "/") {
		return false
	}
	if unlisted {
		return true
	}
	for _, f := range files {
		if !f.Mode.IsDir() && path.Clean(f.Dst) == path.Clean(dest) {
			return true
		}
	}
	return false
}
