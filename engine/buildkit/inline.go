package buildkit

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/client/llb"

	"github.com/imgc-dev/imgc/ir"
)

// inlineCopy lowers a copy of inline content as BuildKit's Dockerfile
// frontend lowers COPY <<EOF: the file made with llb.Mkfile (0644) in a
// scratch state, then copied to the destination with the copy's chown
// and chmod. As for other copies, the parents a chmod copy creates are
// made 0755 first (chmodParents).
func inlineCopy(c *ir.Copy, st llb.State, baseCfg v1.ConfigFile, cons []llb.ConstraintsOpt) (llb.State, error) {
	if len(c.Sources) != 1 {
		return llb.State{}, fmt.Errorf("%s: a copy of inline content has one name, not %d", c.Origin, len(c.Sources))
	}
	name := "/" + c.Sources[0]
	mk := append(append([]llb.ConstraintsOpt(nil), cons...), llb.WithCustomName("preparing inline document"))
	file := llb.Scratch().File(llb.Mkfile(name, 0o644, []byte(*c.Content)), mk...)
	info := &llb.CopyInfo{CreateDestPath: true}
	mode, err := chmodOpt(c.Chmod)
	if err != nil {
		return llb.State{}, fmt.Errorf("%s: %w", c.Origin, err)
	}
	info.Mode = mode
	opts := []llb.CopyOption{info}
	if c.Chown != "" {
		opts = append(opts, llb.WithUser(c.Chown))
	}
	dest := expandDest(baseCfg.Config.Env, c.Dest)
	if c.InWorkdir {
		dest = ir.InImageWorkdir(baseCfg.Config.WorkingDir, dest)
	}
	fa := chmodParents(dest, c.Chmod, c.Chown, false)
	if fa == nil {
		fa = llb.Copy(file, name, dest, opts...)
	} else {
		fa = fa.Copy(file, name, dest, opts...)
	}
	return st.File(fa, cons...), nil
}
