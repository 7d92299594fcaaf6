package compiler

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strings"

	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/model"
)

// inlineCopy lowers a copy of inline content (copy { content = ... }, a
// Dockerfile's COPY <<EOF) as BuildKit's Dockerfile frontend does: a file
// NAME, mode 0644, copied to dest with the copy's chown and chmod. Its
// one resolved file carries the content's digest, which keys the step.
func inlineCopy(sc stageCtx, s *model.Copy, clip func(string) string) lowered {
	if s.Dest == "" {
		panic("compiler: lower: copy of content without destination: model.Check lets none through")
	}
	dest := joinDest(sc.workdir, s.Dest)
	name := s.Name
	if name == "" {
		name = path.Base(dest)
	}
	dst := dest
	if strings.HasSuffix(dest, "/") || dest == "/" {
		dst = path.Join(dest, name)
	}
	content := *s.Content
	sum := sha256.Sum256([]byte(content))
	c := &ir.Copy{
		Sources: []string{name}, Dest: dest, Chown: s.Chown, Chmod: s.Chmod, Link: s.Link,
		Files: []ir.CopyFile{{
			Src: name, Dst: dst, Mode: 0o644, Size: int64(len(content)),
			Digest: "sha256:" + hex.EncodeToString(sum[:]),
		}},
		Content: &content, Origin: ir.OriginOf(s.Range), Definition: ir.OriginPtr(s.Definition),
		InWorkdir: inBaseWorkdir(sc, s.Dest),
	}
	return lowered{
		step:      c,
		name:      macroName(s.Macro, "copy <<"+clip(name)),
		createdBy: "COPY <<" + name + " " + dest,
		vars:      s.Vars,
	}
}
