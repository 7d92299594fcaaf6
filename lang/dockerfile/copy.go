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
		if cp.From != nil {
			rd.errorf(rng, "Heredoc with --from", "COPY cannot take heredoc files together with --from. Split the instruction.")
			return
		}
		run := rd.inlineFiles(s, rng, len(cp.Src), cp.Dest.Value, c.SourceContents, cp.Chown.Value, cp.Chmod.Value)
		if run == nil {
			return
		}
		if len(cp.Src) == 0 {
			s.st.Steps = append(s.st.Steps, run)
		} else {
			s.st.Steps = append(s.st.Steps, &layerForm{Name: fmt.Sprintf("line-%d", rng.Start.Line), Steps: []stepForm{cp, run}, Range: rng})
		}
		s.stepped = true
		return
	}
	s.st.Steps = append(s.st.Steps, cp)
	s.stepped = true
}

// inlineFiles turns COPY heredoc files into a shell step that writes them,
// the closest the model can express. nsrc is the number of other sources.
func (rd *reader) inlineFiles(s *stageState, rng hcl.Range, nsrc int, dest string, files []instructions.SourceContent, chown, chmod string) *runForm {
	var b strings.Builder
	multi := len(files)+nsrc > 1 || strings.HasSuffix(dest, "/")
	for i, f := range files {
		data := f.Data
		if f.Expand {
			lex := *rd.lex
			lex.SkipProcessQuotes = true
			env := s.expandEnv()
			res, err := lex.ProcessWordWithMatches(data, getter{env: env})
			if err == nil {
				data = res.Result
				rd.heredocVars(rng, f.Path, res.Matched, env)
			}
		}
		dest := dest
		if multi {
			dest = path.Join(dest, f.Path)
		} else if !path.IsAbs(dest) {
			dest = path.Join(".", dest)
		}
		marker := "IMGC_EOF"
		for strings.Contains(data, marker) {
			marker += "_"
		}
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "mkdir -p %s\ncat > %s <<'%s'\n%s", shellQuote(path.Dir(dest)), shellQuote(dest), marker, data)
		if !strings.HasSuffix(data, "\n") && data != "" {
			rd.errorf(rng, "Heredoc without final newline", "imgc writes COPY heredoc files with a shell step, which cannot write a file without a final newline. End the heredoc with a newline or copy a file from the context.")
			return nil
		}
		b.WriteString(marker + "\n")
		if chmod != "" {
			fmt.Fprintf(&b, "chmod %s %s\n", shellQuote(chmod), shellQuote(dest))
		}
		if chown != "" {
			fmt.Fprintf(&b, "chown %s %s\n", shellQuote(chown), shellQuote(dest))
		}
	}
	rd.warnf(rng, "Heredoc file written by a shell step", "imgc has no inline file source yet, so this COPY heredoc becomes a RUN that writes the file with the stage's shell and cat. The stage's base image needs /bin/sh, and the layer's cache key differs from BuildKit's.")
	run := &runForm{Command: &model.Sh{Script: b.String()}, Range: rng}
	rd.stepSettings(s, run)
	if u := s.user; u != "" && u != "root" && u != "0" && !strings.HasPrefix(u, "0:") && !strings.HasPrefix(u, "root:") {
		// COPY writes as root whatever USER says.
		run.User = lit("0")
	}
	run.Vars = s.allArgs()
	return run
}

// heredocVars warns, for a conversion, that the ARGs a heredoc file
// expands become constants in the step that writes it.
func (rd *reader) heredocVars(rng hcl.Range, name string, matched map[string]struct{}, env envList) {
	var args []string
	for n := range matched {
		if e, ok := env.get(n); ok && e.Tmpl != quoteLit(e.Value) {
			args = append(args, n)
		}
	}
	if len(args) == 0 {
		return
	}
	sort.Strings(args)
	rd.convertWarnf(rng, "Variable reference not kept", "The heredoc <<%s expands %s, but the step that writes its file holds the expanded text, so --var no longer changes it. Edit the converted file to use the variable if you need to.", name, strings.Join(args, ", "))
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-:+=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
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
	if len(c.SourceContents) > 0 {
		if len(f.Src) > 0 {
			rd.errorf(rng, "Heredoc mixed with files", "imgc cannot mix heredoc files with other sources in one ADD yet. Split the instruction.")
			return
		}
		if run := rd.inlineFiles(s, rng, 0, f.Dest.Value, c.SourceContents, f.Chown.Value, f.Chmod.Value); run != nil {
			s.st.Steps = append(s.st.Steps, run)
			s.stepped = true
		}
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
	switch len(adds) {
	case 0:
		return
	case 1:
		s.st.Steps = append(s.st.Steps, adds[0])
	default:
		s.st.Steps = append(s.st.Steps, &layerForm{Name: fmt.Sprintf("line-%d", rng.Start.Line), Steps: adds, Range: rng})
	}
	s.stepped = true
}
