package compiler

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/internal/copyspec"
	"github.com/imgc-dev/imgc/internal/hashcache"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/model"
)

// resolveInputs fills in what keys are computed from but the configuration
// does not spell out: base digests (from the reference, the lock file or
// Options.Resolve) and, for every copy and add from the build context, the
// list of files it copies with their content digests. It is safe because it
// changes no layering and no step's meaning, only makes inputs explicit.
// Required: without it keys would not see file contents.
//
// With Options.ConfigOnly it reads nothing: the plan keeps its inputs as
// the configuration gives them.
func resolveInputs(s *state, p *ir.Plan) *ir.Plan {
	if s.opts.ConfigOnly {
		return p
	}
	out := &ir.Plan{Project: p.Project, Optimizations: p.Optimizations}
	var pending []pendingHash
	runs := p.RunsOn()
	for _, t := range p.Targets {
		nt := *t
		nt.Base = s.resolveBase(t.Base, t.Platform, runs[t.Name])
		nt.Layers = make([]*ir.Layer, len(t.Layers))
		for i, l := range t.Layers {
			nl := *l
			nl.Steps = make([]ir.Step, len(l.Steps))
			s.usedIgnores = nil
			for j, step := range l.Steps {
				nl.Steps[j] = s.resolveStep(step, &pending)
			}
			nl.IgnoreFile = strings.Join(s.usedIgnores, ", ")
			nt.Layers[i] = &nl
		}
		out.Targets = append(out.Targets, &nt)
	}
	s.hashPending(pending)
	return out
}

// pendingHash is a regular file of a resolved copy awaiting its digest.
type pendingHash struct {
	files []ir.CopyFile
	i     int
	// file is its path and the stat the walk took of it.
	file hashcache.File
}

// resolveBase resolves b for plat. runs tells whether a run step runs on
// it: an image of one platform whose config names another is then an
// error (its programs would not run), else a warning, as in BuildKit (a
// stage whose files are only copied).
func (s *state) resolveBase(b ir.Base, plat ir.Platform, runs bool) ir.Base {
	switch b.Kind {
	case ir.BaseRegistry, ir.BaseOCILayout, ir.BaseDockerArchive:
	default:
		return b
	}
	if b.Digest != "" {
		return b
	}
	if d, ok := s.opts.Pins[PinKey(b.Ref.String(), plat)]; ok && d != "" {
		b.Digest = d
		return b
	}
	// A pin without a platform (imgc.lock.hcl before per-platform pins)
	// is the host's.
	if d, ok := s.opts.Pins[b.Ref.String()]; ok && d != "" && plat.OS == "linux" && plat.Architecture == runtime.GOARCH {
		b.Digest = d
		return b
	}
	local := b.Kind == ir.BaseOCILayout || b.Kind == ir.BaseDockerArchive
	if s.opts.Resolve == nil {
		return b
	}
	d, err := s.opts.Resolve.Resolve(b.Ref, plat)
	var unreachable *UnreachableError
	var np *ir.NoPlatformError
	switch {
	case err == nil && d != "":
		b.Digest = d
	case errors.Is(err, ErrUnresolved):
	case errors.As(err, &np) && np.Single && d != "" && !runs:
		b.Digest = d
		s.diags = append(s.diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Base image of another platform",
			Detail:   fmt.Sprintf("The base %s is for %s, not %s. No run step runs on it, so its files are used as they are; a run step on it would fail.", b.Ref, strings.Join(np.Have, ", "), plat),
			Subject:  b.Origin.Range(),
		})
	case errors.As(err, &np):
		s.diags = append(s.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Base image lacks the platform",
			Detail:   fmt.Sprintf("The base %s has no image for %s: it has %s. Build for those platforms (--platform, or the image's platforms), or use a base that has %s.", b.Ref, plat, strings.Join(np.Have, ", "), plat),
			Subject:  b.Origin.Range(),
		})
	case errors.As(err, &unreachable) && !local:
		if !s.unreachable[b.Ref.String()] {
			s.unreachable[b.Ref.String()] = true
			s.diags = append(s.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Base image unreachable",
				Detail:   fmt.Sprintf("%v. A tag is resolved through its registry the first time it is built; make the registry reachable, or pin the digest in imgc.lock.hcl.", unreachable.Err),
				Subject:  b.Origin.Range(),
				Extra:    unreachable,
			})
		}
	case err != nil && local:
		s.diags = append(s.diags, missingBase(b, err, s.dir))
	case err != nil:
		s.diags = append(s.diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Base image not resolved",
			Detail:   fmt.Sprintf("Resolving %s to a digest: %v. Its layers are keyed by the reference until it resolves, so their cache status may be wrong; pin it in imgc.lock.hcl or make it reachable.", b.Ref, err),
			Subject:  b.Origin.Range(),
		})
	}
	return b
}

// PinKey is the key of Options.Pins (and lang.ReadLock's) for the pin of
// the reference ref for platform p: "REFERENCE OS/ARCH[/VARIANT]".
func PinKey(ref string, p ir.Platform) string { return ref + " " + p.String() }

// missingBase is the error for a local base (an OCI layout or a docker
// archive) that cannot be read: unlike a registry, nothing can make it
// appear later, so the build would fail at its first step.
func missingBase(b ir.Base, err error, dir string) *hcl.Diagnostic {
	what := "an OCI image layout (a directory holding index.json) that has the tag"
	if b.Kind == ir.BaseDockerArchive {
		what = "a `docker save` archive"
	}
	why := err.Error()
	if errors.Is(err, fs.ErrNotExist) {
		why = "there is no such file"
		if b.Kind == ir.BaseOCILayout {
			why = fmt.Sprintf("%s holds no index.json", b.Ref.Path)
			if _, serr := os.Stat(b.Ref.Path); serr != nil {
				why = fmt.Sprintf("%s does not exist", b.Ref.Path)
			}
		}
	}
	// A relative path starts at the directory of the file that names
	// it: a module's, for a base a module names (even from an input).
	where := "the configuration's directory"
	if b.Origin.File != "" && filepath.IsAbs(b.Origin.File) && filepath.Dir(b.Origin.File) != dir {
		dir, where = filepath.Dir(b.Origin.File), "the directory of the module that names it"
	}
	found := ""
	if b.Kind == ir.BaseOCILayout {
		if near := nearbyLayouts(dir, b.Ref.Path); len(near) > 0 {
			found = " Layouts found nearby: " + strings.Join(near, ", ") + "."
		}
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Base image not found",
		Detail: fmt.Sprintf("The base %s:%s cannot be read: %s. A local base must exist before anything is built.%s Fix the path to name %s (a relative path starts at %s, %s), or use another base.",
			b.Kind, b.Ref, why, found, what, where, dir),
		Subject: b.Origin.Range(),
	}
}

// nearbyLayouts lists, as oci: references relative to dir, the OCI image
// layouts (directories with an oci-layout file) up to three levels below
// dir and below the missing path's nearest existing parent: at most five,
// so a typo or a layout moved into a subdirectory is found.
func nearbyLayouts(dir, missing string) []string {
	roots := []string{dir}
	for p := filepath.Dir(missing); p != "" && p != "." && p != "/"; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			if p != dir {
				roots = append(roots, p)
			}
			break
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, root := range roots {
		base := strings.Count(filepath.Clean(root), string(filepath.Separator))
		visited := 0
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			visited++
			if err != nil || len(out) >= 5 || visited > 5000 {
				return filepath.SkipDir
			}
			if !d.IsDir() {
				return nil
			}
			if strings.Count(filepath.Clean(p), string(filepath.Separator))-base > 3 || (p != root && strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "oci-layout")); err == nil && !seen[p] {
				seen[p] = true
				rel, rerr := filepath.Rel(dir, p)
				if rerr != nil {
					rel = p
				}
				if !strings.HasPrefix(rel, "..") && !filepath.IsAbs(rel) {
					rel = "./" + rel
				}
				out = append(out, "oci:"+filepath.ToSlash(rel))
				return filepath.SkipDir // blobs are not layouts
			}
			return nil
		})
	}
	return out
}

func (s *state) resolveStep(step ir.Step, pending *[]pendingHash) ir.Step {
	switch st := step.(type) {
	case *ir.Run:
		var nr *ir.Run
		for i, m := range st.Mounts {
			// A bind mount of the build context or a named directory,
			// or a cache mount started from a named directory.
			if !(m.Type == ir.MountBind || m.Type == ir.MountCache && m.Context != "") || m.FromTarget != "" {
				continue
			}
			if nr == nil {
				c := *st
				c.Mounts = append([]ir.Mount(nil), st.Mounts...)
				nr = &c
			}
			source := m.Source
			if source == "" {
				source = "."
			}
			// What the mount shows: the context (or the named context)
			// after its ignore files. The keys pass hashes these files;
			// the runtime shows only them.
			dir := contextOf(s.context, m.Context)
			files, err := copyspec.Resolve(dir, []string{source}, "/", copyspec.Options{Ignore: s.ignore(dir, m.Context != "")})
			if err != nil {
				s.diags = append(s.diags, errorDiag("Bind mount source not found", fmt.Sprintf("Listing the bind mount source %q in the build context %s: %v. Fix source, or mount from a stage with from.", source, dir, err), st.Origin.Range()))
				continue
			}
			if files == nil {
				files = []ir.CopyFile{}
			}
			nr.Mounts[i].Files = files
		}
		if nr != nil {
			return nr
		}
	case *ir.Copy:
		if st.Context == "" {
			return st
		}
		nc := *st
		nc.Files = s.resolveFiles(st.Context, st.NamedContext, st.Sources, st.Dest, st.Exclude, st.Parents, st.Origin, pending)
		return &nc
	case *ir.Add:
		if st.URL != "" && st.Checksum == "" {
			return s.fetchURL(st)
		}
		if st.Git != nil && (st.Git.Commit == "" || st.Git.Verify) {
			return s.fetchGit(st)
		}
		if st.Context == "" || len(st.Sources) == 0 {
			return st
		}
		na := *st
		na.Files = s.resolveFiles(st.Context, false, st.Sources, st.Dest, st.Exclude, false, st.Origin, pending)
		return &na
	}
	return step
}

// fetchURL resolves an add step's URL without a checksum to the digest of
// its content through Options.Fetch, so that its key changes exactly when
// the content does.
func (s *state) fetchURL(st *ir.Add) ir.Step {
	if s.opts.Fetch == nil {
		return st
	}
	d, err := s.opts.Fetch.URL(st.URL)
	if err != nil {
		s.diags = append(s.diags, errorDiag("Download failed", fmt.Sprintf("%s An add of a URL without a checksum is downloaded before the build, to key the step by its content; make the URL reachable, or fix it.", model.Sentence(err.Error())), st.Origin.Range()))
		return st
	}
	na := *st
	na.Checksum = d
	return &na
}

// fetchGit resolves a git source's ref to its commit through
// Options.Fetch, as BuildKit keys a git source by its commit.
func (s *state) fetchGit(st *ir.Add) ir.Step {
	if s.opts.Fetch == nil {
		return st
	}
	commit, err := s.opts.Fetch.Git(st.Git.Remote, st.Git.Ref)
	if err != nil {
		s.diags = append(s.diags, errorDiag("Git source not resolved", fmt.Sprintf("%s A git source's ref is resolved to a commit before the build, to key the step by it; make the repository reachable, or fix the ref.", model.Sentence(err.Error())), st.Origin.Range()))
		return st
	}
	if st.Git.Verify && commit != st.Git.Commit {
		s.diags = append(s.diags, errorDiag("Git ref does not name the commit", fmt.Sprintf("The ref %q of %s names the commit %s, not %s, the commit the source pins (--checksum or commit=); BuildKit fails here too. Fix the ref or the commit, or add fetch-by-commit=true to the query to trust the commit.", st.Git.Ref, st.Git.Remote, commit, st.Git.Commit), st.Origin.Range()))
		return st
	}
	na := *st
	g := *st.Git
	g.Commit, g.Verify = commit, false
	na.Git = &g
	return &na
}

func (s *state) resolveFiles(ctx string, named bool, sources []string, dest string, exclude []string, parents bool, o ir.Origin, pending *[]pendingHash) []ir.CopyFile {
	files, infos, err := copyspec.ResolveInfo(ctx, sources, dest, copyspec.Options{Exclude: exclude, Ignore: s.ignore(ctx, named), Parents: parents})
	var nm *copyspec.NoMatchError
	switch {
	case errors.As(err, &nm) && nm.Ignored:
		s.diags = append(s.diags, errorDiag("Copy source excluded", fmt.Sprintf("The source %q matches only paths that .imgcignore, .dockerignore or exclude leave out of the build context %s. Copy a path that is not ignored, or change the ignore patterns.", nm.Pattern, ctx), o.Range()))
		return nil
	case errors.As(err, &nm):
		s.diags = append(s.diags, errorDiag("Copy source not found", fmt.Sprintf("The source %q matches nothing in the build context %s. Sources are relative to the build context; fix the path, or choose the context with --context.", nm.Pattern, ctx), o.Range()))
		return nil
	case errors.Is(err, copyspec.ErrNeedDirDest):
		s.diags = append(s.diags, errorDiag("Copy destination is not a directory", fmt.Sprintf("Copying several sources, or a glob matching several paths, needs a destination directory, but %q does not end in \"/\". Add a trailing \"/\" to dest.", dest), o.Range()))
		return nil
	case err != nil:
		s.diags = append(s.diags, errorDiag("Copy sources not readable", fmt.Sprintf("Resolving the sources %q: %v.", sources, err), o.Range()))
		return nil
	}
	for i, f := range files {
		files[i].ModTime = infos[i].ModTime()
		if f.Mode.IsRegular() {
			*pending = append(*pending, pendingHash{files: files, i: i, file: hashcache.File{Path: filepath.Join(ctx, filepath.FromSlash(f.Src)), Info: infos[i]}})
		}
	}
	return files
}

// hashPending hashes every pending file at once, in parallel, and writes
// the digests into their (not yet shared) file lists.
func (s *state) hashPending(pending []pendingHash) {
	if len(pending) == 0 {
		return
	}
	files := make([]hashcache.File, len(pending))
	for i, p := range pending {
		files[i] = p.file
	}
	digests, err := s.hashes.DigestAll(files, runtime.GOMAXPROCS(0)*2)
	if err != nil {
		s.diags = append(s.diags, errorDiag("Copied file not readable", fmt.Sprintf("%v. Make the file readable, or leave it out with exclude or an ignore file.", err), nil))
		return
	}
	for i, p := range pending {
		p.files[p.i].Digest = digests[i]
	}
}
