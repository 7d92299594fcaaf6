package local

import (
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/imgc-dev/imgc/internal/chmod"
	"github.com/imgc-dev/imgc/store/layer"
)

// inlineEntries is the entry of a copy of inline content (its one
// planned file, c.files[0], with c.content its text) and the parent
// directories dest lacks. As BuildKit's copy of an llb.Mkfile, the file
// lands in the destination, or in it under its name when the destination
// ends in "/" (planned so) or is a directory of the image; it is 0644
// unless the copy's chmod says otherwise, owned by chown (root by
// default), and dated as the build's other new files.
func (tb *targetBuild) inlineEntries(c copyReq, dest string) ([]layer.Entry, error) {
	if len(c.files) != 1 {
		return nil, fmt.Errorf("copying inline content: want one planned file, have %d", len(c.files))
	}
	f := c.files[0]
	uid, gid, err := resolveOwner(dest, c.chown)
	if err != nil {
		return nil, err
	}
	mode := f.Mode
	cm, err := chmod.Parse(c.chmod)
	if err != nil {
		return nil, err
	}
	if cm != nil {
		mode = cm.Apply(mode)
	}
	landing, err := tb.destLanding(c, dest)
	if err != nil {
		return nil, err
	}
	p := landing(path.Clean(f.Dst))
	if p == "/" {
		return nil, fmt.Errorf("copying inline content %s: the destination is the root directory", f.Src)
	}
	if !c.link {
		resolved := &inRoot{root: dest, memo: map[string]string{}}
		if isDirIn(dest, p) {
			p = path.Join(resolved.path(p, true), path.Base(f.Src))
		} else {
			p = resolved.path(p, false)
		}
		if file := fileAbove(dest, p); file != "" {
			return nil, fmt.Errorf("copying %s to %s: %s is a file, not a directory", f.Src, p, file)
		}
	}
	content := *c.content
	e := layer.Entry{
		Path: p, Mode: mode, UID: uid, GID: gid, ModTime: tb.b.now, Size: int64(len(content)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(content)), nil },
	}
	return tb.withParents(c, dest, []layer.Entry{e}, map[string]bool{p: true}, uid, gid), nil
}
