package local

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/imgc-dev/imgc/engine/imageconfig"
	"github.com/imgc-dev/imgc/store/layer"
)

// extractArchiveOwned unpacks the archive p into the directory dest of the
// filesystem at rootfs (followed through symlinks unless link is set), creating dest and its missing parents. With chown
// set, those directories and every entry of the archive belong to its ids,
// as BuildKit's ADD --chown unpacks an archive; without it, entries keep
// the owners the archive gives them. What it unpacks is bounded as a base
// layer of the archive's size is (a build context may be hostile).
func (tb *targetBuild) extractArchiveOwned(p, rootfs, dest, chown string, link bool) error {
	uid, gid, err := resolveOwner(rootfs, chown)
	if err != nil {
		return err
	}
	dest = imageconfig.ExpandWorkdir(tb.st.Config.Config.Env, path.Clean("/"+dest))
	dir := (&inRoot{root: rootfs, memo: map[string]string{}}).path(dest, true)
	if !link {
		// The destination is followed through symlinks, dangling ones
		// too, as a copy's is (followInRoot).
		if dir, err = followInRoot(rootfs, dest); err != nil {
			return err
		}
	}
	if dir != "/" && !isDirIn(rootfs, dir) {
		parents := []layer.Entry{{Path: dir, Mode: fs.ModeDir | 0o755, UID: uid, GID: gid, ModTime: tb.b.now}}
		for d := path.Dir(dir); d != "/"; d = path.Dir(d) {
			if !isDirIn(rootfs, d) {
				parents = append(parents, layer.Entry{Path: d, Mode: fs.ModeDir | 0o755, UID: uid, GID: gid, ModTime: tb.b.now})
			}
		}
		if err := layer.WriteEntriesToDir(rootfs, parents); err != nil {
			return err
		}
	}
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	r, closeFn, err := decompress(p)
	if err != nil {
		return err
	}
	defer closeFn()
	if chown != "" {
		r = ownedTar(r, uid, gid)
	}
	if err := layer.ApplyToRoot(r, filepath.Join(rootfs, filepath.FromSlash(dir)), layer.ApplyOptions{MaxSize: tb.b.s.LayerUnpackBound(fi.Size())}); err != nil {
		return fmt.Errorf("extracting %s: %w", filepath.Base(p), err)
	}
	return nil
}

// ownedTar rewrites the tar stream r so that every entry belongs to
// uid:gid.
func ownedTar(r io.Reader, uid, gid int) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		tr := tar.NewReader(r)
		tw := tar.NewWriter(pw)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				pw.CloseWithError(tw.Close())
				return
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			h.Uid, h.Gid, h.Uname, h.Gname = uid, gid, "", ""
			if err := tw.WriteHeader(h); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(tw, tr); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr
}
