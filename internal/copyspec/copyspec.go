package copyspec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/moby/patternmatcher"

	"github.com/imgc-dev/imgc/internal/par"
	"github.com/imgc-dev/imgc/ir"
)

// Options refine which paths a copy takes.
type Options struct {
	// Exclude are COPY --exclude patterns, matched as BuildKit v0.34
	// matches them: relative to each copied source (a source named or
	// matched by a glob is never excluded itself, only what is below it),
	// and with Parents relative to the root, or to the "/./" pivot.
	Exclude []string
	// Ignore is the root's .dockerignore/.imgcignore, matched relative to
	// the root; nil ignores nothing. A PatternMatcher compiles lazily and
	// is not safe for concurrent use: give concurrent calls their own.
	Ignore *patternmatcher.PatternMatcher
	// Parents keeps each source's path relative to the root (or to a "/./"
	// pivot in the source) under the destination.
	Parents bool
}

// NoMatchError says a source pattern matched nothing.
type NoMatchError struct {
	Pattern string
	// Ignored is true when the pattern matched only paths that the ignore
	// file or Exclude leave out.
	Ignored bool
}

func (e *NoMatchError) Error() string {
	if e.Ignored {
		return fmt.Sprintf("source %q matched only ignored or excluded paths", e.Pattern)
	}
	return fmt.Sprintf("source %q matched no files", e.Pattern)
}

// ErrNeedDirDest is returned when several sources (or a glob matching
// several paths) are copied to a destination not ending in "/".
var ErrNeedDirDest = errors.New("copying several sources needs a destination directory ending in \"/\"")

// maxSymlinks bounds symlink resolution, as Linux's MAXSYMLINKS.
const maxSymlinks = 40

// Resolve lists what copying sources from root to dest copies, in order:
// each source in turn; a directory source first as the directory itself
// (Dst = its destination) and then its contents in lexical order. Sources
// are slash-separated paths relative to root (a leading "/" is ignored, so
// absolute paths in a built filesystem work too) and may be globs. A
// source's own final symlink is followed, as Docker does; symlinks inside a
// copied directory are listed as symlinks. No path resolves outside root.
// Dest is an absolute image path; a trailing "/" makes it a directory.
func Resolve(root string, sources []string, dest string, opts Options) ([]ir.CopyFile, error) {
	files, _, err := ResolveInfo(root, sources, dest, opts)
	return files, err
}

// ResolveInfo is Resolve that also returns the lstat of each file it
// lists (of a source's real path for a source that is a symlink), taken as
// it walked, so that hashing the files needs no second stat.
func ResolveInfo(root string, sources []string, dest string, opts Options) ([]ir.CopyFile, []fs.FileInfo, error) {
	if len(sources) == 0 {
		return nil, nil, errors.New("no source given")
	}
	r := &resolver{root: root, ignore: opts.Ignore, parents: opts.Parents}
	if len(opts.Exclude) > 0 {
		pm, err := patternmatcher.New(opts.Exclude)
		if err != nil {
			return nil, nil, fmt.Errorf("parsing exclude patterns: %w", err)
		}
		r.exclude = pm
	}
	destDir := strings.HasSuffix(dest, "/") || strings.HasSuffix(dest, "/.") || dest == "" || dest == "."
	dest = path.Clean("/" + dest)

	var items []item
	for _, src := range sources {
		found, err := r.source(src)
		if err != nil {
			return nil, nil, err
		}
		items = append(items, found...)
	}
	if (len(sources) > 1 || len(items) > 1) && !destDir {
		return nil, nil, ErrNeedDirDest
	}

	var out []ir.CopyFile
	var infos []fs.FileInfo
	kept := map[string]bool{}
	for _, it := range items {
		var dst string
		switch {
		case r.parents:
			dst = path.Join(dest, it.keep)
			dirs, dinfos := r.keptParents(it, dest, kept)
			out, infos = append(out, dirs...), append(infos, dinfos...)
		case it.info.IsDir():
			dst = dest
		case destDir:
			dst = path.Join(dest, path.Base(it.name))
		default:
			dst = dest
		}
		e := entry(it.real, dst, it.info, it.link)
		if it.info.IsDir() && !r.parents {
			// Docker copies a directory's contents, not the directory: a
			// destination it has to create is a plain 0755 directory.
			e.Mode = fs.ModeDir | 0o755
		}
		out, infos = append(out, e), append(infos, it.info)
		if it.info.IsDir() {
			files, fis, err := r.contents(it.real, dst, it.keep)
			if err != nil {
				return nil, nil, err
			}
			out, infos = append(out, files...), append(infos, fis...)
		}
	}
	return out, infos, nil
}

// keptParents lists the directories a copy with parents keeps above the
// source it (below the root or pivot), each once across the copy (kept
// holds the destinations listed), with the source directories' modes as
// BuildKit copies them; a directory that is a symlink is left to the
// engine to make.
func (r *resolver) keptParents(it item, dest string, kept map[string]bool) ([]ir.CopyFile, []fs.FileInfo) {
	if it.keep == "." {
		return nil, nil
	}
	prefix := strings.TrimSuffix(strings.TrimSuffix(it.name, it.keep), "/")
	var ks []string
	for k := path.Dir(it.keep); k != "." && k != "/"; k = path.Dir(k) {
		ks = append(ks, k)
	}
	var out []ir.CopyFile
	var infos []fs.FileInfo
	for i := len(ks) - 1; i >= 0; i-- {
		dst := path.Join(dest, ks[i])
		if kept[dst] {
			continue
		}
		kept[dst] = true
		src := path.Join(prefix, ks[i])
		fi, err := os.Lstat(r.abs(src))
		if err != nil || !fi.IsDir() {
			continue
		}
		out, infos = append(out, entry(src, dst, fi, "")), append(infos, fi)
	}
	return out, infos
}

// item is one resolved source: name as matched, real path after following
// symlinks, and keep the part `parents` keeps.
type item struct {
	name, real, keep string
	info             fs.FileInfo
	link             string
}

type resolver struct {
	root    string
	ignore  *patternmatcher.PatternMatcher
	exclude *patternmatcher.PatternMatcher
	parents bool
}

func (r *resolver) source(src string) ([]item, error) {
	pattern, pivot := splitPivot(src)
	if pattern == ".." || strings.HasPrefix(pattern, "../") {
		return nil, fmt.Errorf("source %q is outside the root", src)
	}
	if !hasMeta(pattern) {
		it, ok, err := r.named(pattern, pivot)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &NoMatchError{Pattern: src, Ignored: pattern != "." && (r.ignored(pattern) || r.parents && r.excluded(keepOf(pattern, pivot)))}
		}
		return []item{it}, nil
	}
	matches, sawIgnored, err := r.glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("matching %q: %w", src, err)
	}
	var items []item
	for _, m := range matches {
		it, ok, err := r.named(m, pivot)
		if err != nil {
			return nil, err
		}
		if ok {
			items = append(items, it)
		}
	}
	if len(items) == 0 {
		// Matches that named left out were excluded.
		return nil, &NoMatchError{Pattern: src, Ignored: sawIgnored || len(matches) > 0}
	}
	return items, nil
}

// named resolves one source path; ok is false when it does not exist or is
// ignored.
func (r *resolver) named(name, pivot string) (item, bool, error) {
	if name == "." {
		name = ""
	}
	if name != "" && (r.ignored(name) || r.parents && r.excluded(keepOf(name, pivot))) {
		return item{}, false, nil
	}
	real, fi, err := r.follow(name)
	if errors.Is(err, fs.ErrNotExist) {
		return item{}, false, nil
	}
	if err != nil {
		return item{}, false, err
	}
	if fi == nil {
		fi, err = os.Lstat(r.abs(real))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return item{}, false, nil
	}
	if err != nil {
		return item{}, false, fmt.Errorf("reading source %q: %w", name, err)
	}
	keep := keepOf(name, pivot)
	if keep == "" || !r.parents {
		keep = "."
	}
	if name == "" {
		name = "."
	}
	if real == "" {
		real = "."
	}
	return item{name: name, real: real, keep: keep, info: fi}, true, nil
}

// keepOf is the part of a source path below its pivot.
func keepOf(name, pivot string) string {
	if pivot == "" {
		return name
	}
	return strings.TrimPrefix(strings.TrimPrefix(name, pivot), "/")
}

// contents lists a directory's entries below dst, leaving out ignored and
// excluded paths; exclude patterns match the path below the directory, or
// with parents the path below the root or pivot (keep, then that path).
func (r *resolver) contents(dir, dst, keep string) ([]ir.CopyFile, []fs.FileInfo, error) {
	type found struct{ p, rel, inSrc string }
	var all []found
	base := r.abs(dir)
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == base {
			return nil
		}
		inSrc := filepath.ToSlash(strings.TrimPrefix(p, base+string(filepath.Separator)))
		rel := path.Join(dir, inSrc)
		excl := inSrc
		if r.parents {
			excl = path.Join(keep, inSrc)
		}
		if r.ignored(rel) || r.excluded(excl) {
			if d.IsDir() && !r.mayReinclude() {
				return filepath.SkipDir
			}
			return nil
		}
		all = append(all, found{p, rel, inSrc})
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("listing %q: %w", dir, err)
	}
	// The walk needs only the types that reading a directory gives; the
	// lstat of each entry (the one stat a file gets: the hash cache takes
	// it from here) runs on every core.
	out := make([]ir.CopyFile, len(all))
	infos := make([]fs.FileInfo, len(all))
	errs := make([]error, len(all))
	par.For(len(all), func(i int) {
		f := all[i]
		fi, err := os.Lstat(f.p)
		if err != nil {
			errs[i] = err
			return
		}
		var link string
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(f.p); err != nil {
				errs[i] = err
				return
			}
		}
		out[i], infos[i] = entry(f.rel, path.Join(dst, f.inSrc), fi, link), fi
	})
	for _, err := range errs {
		if err != nil {
			return nil, nil, fmt.Errorf("listing %q: %w", dir, err)
		}
	}
	return out, infos, nil
}

func entry(src, dst string, fi fs.FileInfo, link string) ir.CopyFile {
	f := ir.CopyFile{Src: src, Dst: dst, Mode: fi.Mode() & (fs.ModeType | fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky), LinkTarget: link}
	if fi.Mode().IsRegular() {
		f.Size = fi.Size()
	}
	return f
}

// ignored reports whether the ignore files leave rel (relative to the
// root) out.
func (r *resolver) ignored(rel string) bool {
	if r.ignore == nil {
		return false
	}
	m, _ := r.ignore.MatchesOrParentMatches(rel)
	return m
}

// excluded reports whether an exclude pattern matches p (see
// Options.Exclude for what p is relative to).
func (r *resolver) excluded(p string) bool {
	if r.exclude == nil || p == "" || p == "." {
		return false
	}
	m, _ := r.exclude.MatchesOrParentMatches(p)
	return m
}

// mayReinclude reports whether a "!pattern" could bring back something
// below an ignored directory, which must then still be walked.
func (r *resolver) mayReinclude() bool {
	return (r.ignore != nil && r.ignore.Exclusions()) || (r.exclude != nil && r.exclude.Exclusions())
}

func (r *resolver) abs(rel string) string {
	if rel == "" || rel == "." {
		return r.root
	}
	return filepath.Join(r.root, filepath.FromSlash(rel))
}

// follow resolves every symlink of rel, including the last component,
// inside the root: an absolute link target starts at the root and ".."
// stops there, as in a chroot. fi is the lstat of what it resolved to
// when that was the last thing it looked at (else nil: a final ".."
// or the root), saving the caller a second one.
func (r *resolver) follow(rel string) (real string, fi fs.FileInfo, err error) {
	rest := splitPath(rel)
	var cur []string
	hops := 0
	for len(rest) > 0 {
		part := rest[0]
		rest = rest[1:]
		if part == ".." {
			if len(cur) > 0 {
				cur = cur[:len(cur)-1]
			}
			fi = nil
			continue
		}
		next := append(cur[:len(cur):len(cur)], part)
		p := r.abs(strings.Join(next, "/"))
		fi, err = os.Lstat(p)
		if err != nil {
			return "", nil, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		fi = nil
		if hops++; hops > maxSymlinks {
			return "", nil, fmt.Errorf("resolving %q: too many levels of symbolic links", rel)
		}
		target, err := os.Readlink(p)
		if err != nil {
			return "", nil, err
		}
		if strings.HasPrefix(target, "/") {
			cur = nil
		}
		rest = append(splitPath(target), rest...)
	}
	return strings.Join(cur, "/"), fi, nil
}

func splitPath(p string) []string {
	var parts []string
	for _, s := range strings.Split(filepath.ToSlash(p), "/") {
		if s != "" && s != "." {
			parts = append(parts, s)
		}
	}
	return parts
}

// splitPivot cleans a source and splits off a "/./" pivot: the part before
// it is what `parents` drops.
func splitPivot(src string) (pattern, pivot string) {
	src = filepath.ToSlash(src)
	if i := strings.Index(src, "/./"); i >= 0 {
		pivot = strings.TrimPrefix(path.Clean("/"+src[:i]), "/")
	}
	pattern = strings.TrimPrefix(path.Clean("/"+src), "/")
	if c := path.Clean(src); c == ".." || strings.HasPrefix(c, "../") {
		pattern = c // escapes the root: the caller refuses it
	}
	if pattern == "" {
		pattern = "."
	}
	return pattern, pivot
}

func hasMeta(p string) bool { return strings.ContainsAny(p, "*?[") }

// glob lists the paths below the root matching pattern, in lexical order,
// leaving out paths below an earlier match (a matched directory is copied
// whole) and ignored paths; sawIgnored tells whether any match was ignored.
func (r *resolver) glob(pattern string) (matches []string, sawIgnored bool, err error) {
	re, err := compileGlob(pattern)
	if err != nil {
		return nil, false, err
	}
	segs := strings.Split(pattern, "/")
	var prefix []string
	for _, s := range segs {
		if hasMeta(s) {
			break
		}
		prefix = append(prefix, s)
	}
	maxDepth := len(segs)
	if strings.Contains(pattern, "**") {
		maxDepth = -1
	}
	start := strings.Join(prefix, "/")
	realStart, _, err := r.follow(start)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	base := r.abs(realStart)
	if fi, err := os.Stat(base); err != nil || !fi.IsDir() {
		return nil, false, nil
	}
	var lastDir string
	err = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == base {
			return nil
		}
		inStart := filepath.ToSlash(strings.TrimPrefix(p, base+string(filepath.Separator)))
		rel := inStart
		if start != "" {
			rel = start + "/" + inStart
		}
		depth := strings.Count(rel, "/") + 1
		if lastDir != "" && strings.HasPrefix(rel, lastDir+"/") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if re.MatchString(rel) {
			if r.ignored(rel) {
				sawIgnored = true
				if d.IsDir() && !r.mayReinclude() {
					return filepath.SkipDir
				}
				return nil
			}
			matches = append(matches, rel)
			if d.IsDir() {
				lastDir = rel
			}
			return nil
		}
		if d.IsDir() && maxDepth >= 0 && depth >= maxDepth {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, sawIgnored, err
	}
	sort.Strings(matches)
	return matches, sawIgnored, nil
}

// compileGlob turns a glob into an anchored regular expression: "*" and "?"
// stay within a path segment, "**" spans segments, "[...]" is a class.
func compileGlob(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case c == '*' && i+1 < len(pattern) && pattern[i+1] == '*':
			i++
			if i+1 < len(pattern) && pattern[i+1] == '/' {
				i++
				b.WriteString("(?:.*/)?")
			} else {
				b.WriteString(".*")
			}
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '[':
			j := strings.IndexByte(pattern[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unterminated [ in %q", pattern)
			}
			class := pattern[i+1 : i+j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += j
		case c == '\\' && i+1 < len(pattern):
			i++
			b.WriteString(regexp.QuoteMeta(string(pattern[i])))
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
