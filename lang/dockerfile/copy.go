package dockerfile

import (
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/imgc-dev/imgc/model"
)

// copyWords are the words of COPY and ADD that BuildKit expands.
type copyWords struct {
	Src          []text
	Dest         text
	Chown, Chmod text
	Checksum     text
	Vars         []string
}

// expandCopy expands a COPY/ADD's words.
func (rd *reader) expandCopy(s *stageState, rng hcl.Range, sd instructions.SourcesAndDest, chown, chmod, checksum string) (copyWords, bool) {
	var f copyWords
	ok := true
	var matched []string
	word := func(w string) expansion {
		x, good := rd.expand(s, rng, w)
		ok = ok && good
		matched = append(matched, x.Matched...)
		return x
	}
	for _, src := range sd.SourcePaths {
		f.Src = append(f.Src, textOf(word(src)))
	}
	raw := word(sd.DestPath)
	f.Dest = textOf(raw)
	if dest := resolveDest(s, raw.Value); dest != raw.Value {
		base := expansion{Value: s.workdir, Tmpl: s.workdirTmpl}
		f.Dest = textOf(expansion{Value: dest, Tmpl: rd.joinedTmpl(rng, "destination", dest, base, raw)})
	}
	f.Chown = textOf(word(chown))
	if err := model.ValidateUser(f.Chown.Value); err != nil {
		rd.errorf(rng, "Invalid --chown", "%s Give a smaller numeric id, or a name.", sentence(err.Error()))
		ok = false
	}
	f.Chmod = textOf(word(chmod))
	f.Checksum = textOf(word(checksum))
	f.Vars = s.argVars(uniqueSorted(matched))
	return f, ok
}

func uniqueSorted(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range in {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return sortedCopy(out)
}

func (rd *reader) copyCmd(s *stageState, rng hcl.Range, c *instructions.CopyCommand) {
	f, ok := rd.expandCopy(s, rng, c.SourcesAndDest, c.Chown, c.Chmod, "")
	if !ok {
		return
	}
	cp := &copyForm{
		fileForm: fileForm{Src: f.Src, Dest: f.Dest, Exclude: c.ExcludePatterns, Chown: f.Chown, Chmod: f.Chmod, Link: c.Link},
		Parents:  c.Parents,
		Vars:     f.Vars,
		Range:    rng,
	}
	if c.From != "" {
		cp.From = rd.fromRef(s, rng, c.From)
		if cp.From != nil && cp.From.Dir != "" {
			cp.Context, cp.From = cp.From.Dir, nil
		}
	}
	if len(c.SourceContents) > 0 {
		inline, ok := rd.inlineCopies(s, rng, f, c.SourceContents, c.Link)
		if !ok {
			return
		}
		steps := inline
		if len(cp.Src) > 0 {
			// As in BuildKit: the files (from --from's source, if any)
			// first, then the heredocs, in one layer.
			steps = append([]stepForm{cp}, inline...)
		}
		rd.appendSteps(s, rng, steps)
		return
	}
	s.st.Steps = append(s.st.Steps, cp)
	s.stepped = true
}

func sortedCopy(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}

// isGitSource mirrors BuildKit's dfgitutil.ParseGitRef for ADD sources
// (which this package does not import: it pulls in an SSH client).
func isGitSource(src string) bool {
	switch {
	case strings.HasPrefix(src, "./"), strings.HasPrefix(src, "../"):
		return false
	case strings.HasPrefix(src, "github.com/"),
		strings.HasPrefix(src, "git://"), strings.HasPrefix(src, "ssh://"),
		strings.HasPrefix(src, "git@"):
		return true
	case strings.HasPrefix(src, "http://"), strings.HasPrefix(src, "https://"):
		u, err := url.Parse(src)
		return err == nil && strings.HasSuffix(u.Path, ".git")
	}
	return false
}

// gitSource splits a git source as BuildKit's dfgitutil.ParseGitRef does:
// REMOTE#REF:SUBDIR or REMOTE?ref=REF&subdir=DIR&keep-git-dir=1 (also tag=
// and branch=), with github.com/... fetched over https.
//
// checksum is ADD --checksum: the commit to check out, as the query's
// commit= is.
func (rd *reader) gitSource(rng hcl.Range, src, checksum string) (*model.GitSource, bool) {
	remote, frag, _ := strings.Cut(src, "#")
	if strings.HasPrefix(remote, "github.com/") {
		remote = "https://" + remote
	}
	ref, subdir, _ := strings.Cut(frag, ":")
	g := &model.GitSource{Ref: ref, Subdir: subdir}
	if base, query, ok := strings.Cut(remote, "?"); ok && (strings.HasPrefix(remote, "http://") || strings.HasPrefix(remote, "https://")) {
		remote = base
		if err := gitQuery(g, query, checksum); err != nil {
			rd.errorf(rng, "Invalid git source", "%s Write REPOSITORY#REF:SUBDIR, or the query keys %s.", model.Sentence(err.Error()), gitQueryKeys)
			return nil, false
		}
	} else if checksum != "" {
		if err := pinCommit(g, checksum, false); err != nil {
			rd.errorf(rng, "Checksum of a git source", "%s --checksum of a git source is the commit to check out.", model.Sentence(err.Error()))
			return nil, false
		}
	}
	g.Remote = remote
	g.Subdir = strings.Trim(path.Clean("/"+g.Subdir), "/")
	if err := model.ValidateGitRemote(remote); err != nil {
		rd.errorf(rng, "Invalid git source", "%s", model.Sentence(err.Error()))
		return nil, false
	}
	if err := model.ValidateGitRef(g.Ref, g.Subdir); err != nil {
		rd.errorf(rng, "Invalid git source", "%s Write REPOSITORY#REF:SUBDIR.", model.Sentence(err.Error()))
		return nil, false
	}
	return g, true
}

// fetchIsCommit tells a full commit id (sha1 or sha256) from a ref name.
func fetchIsCommit(ref string) bool {
	return (len(ref) == 40 || len(ref) == 64) && strings.Trim(ref, "0123456789abcdef") == ""
}

func sortedKeys(m url.Values) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func hasGit(adds []stepForm) bool {
	for _, a := range adds {
		if a, ok := a.(*addForm); ok && a.Git != nil {
			return true
		}
	}
	return false
}

func isHTTPSource(src string) bool {
	return (strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")) && !isGitSource(src)
}

func (rd *reader) addCmd(s *stageState, rng hcl.Range, c *instructions.AddCommand) {
	f, ok := rd.expandCopy(s, rng, c.SourcesAndDest, c.Chown, c.Chmod, c.Checksum)
	if !ok {
		return
	}
	file := fileForm{Dest: f.Dest, Chown: f.Chown, Chmod: f.Chmod, Link: c.Link, Exclude: c.ExcludePatterns}
	var locals []text
	var adds []stepForm
	for i, src := range f.Src {
		switch {
		case isGitSource(src.Value):
			g, ok := rd.gitSource(rng, src.Value, f.Checksum.Value)
			if !ok {
				return
			}
			var gt *gitText
			if src.Tmpl != "" || f.Checksum.Tmpl != "" {
				if gt = rd.gitTexts(s, rng, c.SourcePaths[i], f.Checksum, g); gt == nil {
					rd.convertWarnf(rng, "Variable reference not kept", "The git source %s is written with variables whose values cannot be told apart from its #, ?, & and : separators (or in query settings other than ref, tag, branch, subdir and commit), so its converted git, ref and subdir are constants, and --var no longer changes them. Edit the converted file to use the variables if you need to.", src.Value)
				}
			}
			if c.KeepGitDir != nil {
				g.KeepGitDir = *c.KeepGitDir
			}
			adds = append(adds, &addForm{fileForm: file, Git: g, GitText: gt, Vars: f.Vars, Range: rng})
		case isHTTPSource(src.Value):
			a := &addForm{fileForm: file, URL: src, Checksum: f.Checksum, Vars: f.Vars, Range: rng}
			if c.Unpack != nil {
				a.Extract = *c.Unpack
			}
			adds = append(adds, a)
		default:
			locals = append(locals, src)
		}
	}
	if f.Checksum.Value != "" && len(adds) == 0 && len(locals) > 0 {
		rd.errorf(rng, "Checksum of a local file", "--checksum checks an HTTP(S) or Git source, and %q is a file of the build context, which is keyed by its content already. Remove --checksum, or give the URL.", locals[0].Value)
		return
	}
	if f.Checksum.Value != "" && (len(adds) != 1 || len(locals) > 0) {
		rd.errorf(rng, "Checksum with several sources", "--checksum applies to exactly one URL source. Split the ADD so that each URL has its own instruction.")
		return
	}
	if len(locals) > 0 {
		a := &addForm{fileForm: file, Extract: true, Vars: f.Vars, Range: rng}
		a.Src = locals
		if c.Unpack != nil {
			a.Extract = *c.Unpack
		}
		adds = append(adds, a)
	}
	if c.KeepGitDir != nil && *c.KeepGitDir && !hasGit(adds) {
		rd.warnf(rng, "Ignored --keep-git-dir", "--keep-git-dir only applies to git sources. Remove the flag.")
	}
	if len(c.SourceContents) > 0 {
		inline, ok := rd.inlineCopies(s, rng, f, c.SourceContents, c.Link)
		if !ok {
			return
		}
		adds = append(adds, inline...)
	}
	rd.appendSteps(s, rng, adds)
}

// appendSteps adds the steps of one instruction to the stage: one step as
// it is, several in a layer block, as BuildKit makes them one layer.
func (rd *reader) appendSteps(s *stageState, rng hcl.Range, steps []stepForm) {
	switch len(steps) {
	case 0:
		return
	case 1:
		s.st.Steps = append(s.st.Steps, steps[0])
	default:
		s.st.Steps = append(s.st.Steps, &layerForm{Name: fmt.Sprintf("line-%d", rng.Start.Line), Steps: steps, Range: rng})
	}
	s.stepped = true
}
