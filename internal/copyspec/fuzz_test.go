package copyspec

import (
	"bytes"
	"fmt"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// FuzzResolve feeds arbitrary copy sources, --exclude patterns and ignore
// files (read as the compiler reads .dockerignore) to Resolve over a tree
// with symlinks pointing out of it: nothing may panic, and nothing listed
// may come from outside the root or go outside the destination's root.
func FuzzResolve(f *testing.F) {
	f.Add("a", "/dst/", "", "")
	f.Add("dir/*.txt,a", "/dst/", "*.log", "dir\n!dir/keep.txt\n")
	f.Add("/./dir/sub", "/d", "", "# comment\n**/*.txt\n")
	f.Add("out,loop", "/d/", "[", "[\n")
	f.Add("../../etc/passwd", "/d/", "!", "!\n\n\\\n")
	f.Add("dir/**", "/", "dir/*/", "/dir\n../x\n")
	root := tree(f, "a", "dir/x.txt", "dir/keep.txt", "dir/sub/y.log", "out -> ../../..", "loop -> loop", "dir/up -> ../../")
	f.Fuzz(func(t *testing.T, sources, dest, exclude, ignore string) {
		timer := time.AfterFunc(time.Minute, func() { panic(fmt.Sprintf("hang: %q %q %q %q", sources, dest, exclude, ignore)) }) // a hang guard
		defer timer.Stop()
		var opts Options
		if exclude != "" {
			opts.Exclude = strings.Split(exclude, ",")
		}
		if patterns, err := ignorefile.ReadAll(bytes.NewReader([]byte(ignore))); err == nil && len(patterns) > 0 {
			pm, err := patternmatcher.New(patterns)
			if err != nil {
				return
			}
			opts.Ignore = pm
		}
		opts.Parents = strings.HasPrefix(sources, "/./")
		files, err := Resolve(root, strings.Split(sources, ","), dest, opts)
		if err != nil {
			return
		}
		for _, fl := range files {
			if clean := path.Clean("/" + fl.Src); strings.HasPrefix(clean, "/..") || fl.Src != "" && strings.HasPrefix(path.Clean(fl.Src), "../") {
				t.Fatalf("Resolve(%q) lists %q, outside the root", sources, fl.Src)
			}
			if !strings.HasPrefix(fl.Dst, "/") {
				t.Fatalf("Resolve(%q, %q) copies to %q, not an absolute path", sources, dest, fl.Dst)
			}
		}
	})
}
