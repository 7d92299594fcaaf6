package local

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/imgc-dev/imgc/ir"
)

// cacheSeed is what a cache mount starts from: the files of a named
// directory context (--mount=type=cache,from=DIR-CONTEXT[,source=PATH])
// the compiler listed after the directory's ignore file.
type cacheSeed struct {
	dir    string // the context directory the files' Src are relative to
	files  []ir.CopyFile
	digest string // hex digest of the files' paths, modes and contents
}

// newCacheSeed is m's seed, or nil for a cache that starts empty.
func newCacheSeed(m ir.Mount) (*cacheSeed, error) {
	if m.Context == "" {
		return nil, nil
	}
	sd := &cacheSeed{dir: m.Context, files: m.Files}
	h := sha256.New()
	for _, f := range m.Files {
		fmt.Fprintf(h, "%s\x00%o\x00%s\x00", f.Dst, uint32(f.Mode), f.LinkTarget)
		if f.Mode.IsRegular() {
			if err := hashFile(h, filepath.Join(sd.dir, filepath.FromSlash(f.Src))); err != nil {
				return nil, fmt.Errorf("reading the cache mount's source: %w", err)
			}
		}
	}
	sd.digest = hex.EncodeToString(h.Sum(nil))
	return sd, nil
}

func hashFile(w io.Writer, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// copyTo writes the seed's files into the new cache directory root (Dst
// is relative to the mount's source, "/x/y"), keeping their modes and
// owners.
func (sd *cacheSeed) copyTo(root string) error {
	for _, f := range sd.files {
		rel := strings.TrimPrefix(path.Clean("/"+f.Dst), "/")
		if rel == "" {
			continue
		}
		dst := filepath.Join(root, filepath.FromSlash(rel))
		src := filepath.Join(sd.dir, filepath.FromSlash(f.Src))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		var err error
		switch {
		case f.Mode.IsDir():
			err = os.Mkdir(dst, f.Mode.Perm())
		case f.Mode&os.ModeSymlink != 0:
			err = os.Symlink(f.LinkTarget, dst)
		case f.Mode.IsRegular():
			err = copyRegular(src, dst, f.Mode.Perm())
		default:
			continue
		}
		if err != nil && !os.IsExist(err) {
			return fmt.Errorf("seeding the cache mount with %s: %w", f.Src, err)
		}
		if fi, err := os.Lstat(src); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
					return err
				}
			}
		}
		if f.Mode.IsDir() {
			if err := os.Chmod(dst, f.Mode.Perm()); err != nil {
				return err
			}
		}
	}
	return nil
}

func copyRegular(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, perm)
}
