package local

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/zstd"

	"github.com/imgc-dev/imgc/internal/copyspec"
	"github.com/imgc-dev/imgc/internal/fetch"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
	"github.com/imgc-dev/imgc/store/layer"
)

// add runs an add step into the mounted rootfs.
func (tb *targetBuild) add(ctx context.Context, a *ir.Add, rootfs string) error {
	if a.InWorkdir {
		moved := *a
		moved.Dest, moved.Files = tb.inWorkdir(a.Dest, a.Files)
		moved.InWorkdir = false
		a = &moved
	}
	type source struct {
		host, dst string
		fromURL   bool
		digest    string
	}
	var srcs []source
	if a.URL != "" {
		host, err := download(ctx, tb.b.s, a.URL, a.Checksum)
		if err != nil {
			return err
		}
		u, _ := url.Parse(a.URL)
		name := path.Base(u.Path)
		if name == "/" || name == "." || name == "" {
			name = "download"
		}
		dst := a.Dest
		if strings.HasSuffix(dst, "/") || isDirIn(rootfs, dst) {
			// Into a directory the image has, too, named after the URL,
			// as BuildKit does (not after the download's cache name).
			dst = path.Join(dst, name)
		}
		srcs = append(srcs, source{host: host, dst: path.Clean(dst), fromURL: true})
	}
	if a.Git != nil {
		return tb.addGit(ctx, a, rootfs)
	}
	var plain []ir.CopyFile
	for _, f := range a.Files {
		host := filepath.Join(a.Context, filepath.FromSlash(f.Src))
		if a.Extract && f.Mode.Type() == 0 {
			if ok, err := isArchive(host); err != nil {
				return err
			} else if ok {
				srcs = append(srcs, source{host: host, dst: path.Clean(f.Dst), digest: f.Digest})
				continue
			}
		}
		plain = append(plain, f)
	}
	if len(plain) > 0 {
		entries, err := tb.copyEntries(ctx, copyReq{context: a.Context, dest: a.Dest, files: plain, chown: a.Chown, chmod: a.Chmod}, rootfs)
		if err != nil {
			return err
		}
		if err := layer.WriteEntriesToDir(rootfs, entries); err != nil {
			return err
		}
	}
	for _, src := range srcs {
		archive := false
		if a.Extract {
			ok, err := isArchive(src.host)
			if err != nil {
				return err
			}
			archive = ok
		}
		if !archive {
			fi, err := os.Stat(src.host)
			if err != nil {
				return err
			}
			mode := fs.FileMode(0o644)
			if src.fromURL {
				mode = 0o600 // as Docker gives downloaded files
			}
			f := ir.CopyFile{Src: filepath.Base(src.host), Dst: src.dst, Mode: mode, Size: fi.Size()}
			entries, err := tb.copyEntries(ctx, copyReq{context: filepath.Dir(src.host), dest: a.Dest, files: []ir.CopyFile{f}, chown: a.Chown, chmod: a.Chmod, link: a.Link}, rootfs)
			if err != nil {
				return err
			}
			if err := layer.WriteEntriesToDir(rootfs, entries); err != nil {
				return err
			}
			continue
		}
		// An archive unpacks into the destination directory.
		if err := tb.extractArchiveOwned(src.host, rootfs, a.Dest, a.Chown, a.Link); err != nil {
			return err
		}
	}
	return nil
}

// addGit checks out a git source's commit and copies its tree (or
// subdirectory) into the rootfs as a copy from the context would.
func (tb *targetBuild) addGit(ctx context.Context, a *ir.Add, rootfs string) error {
	g := a.Git
	if g.Commit == "" {
		return fmt.Errorf("adding %s: the ref is not resolved to a commit", g)
	}
	tmp, err := os.MkdirTemp(filepath.Join(tb.b.s.Dir(), "tmp"), "git-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "tree")
	if err := GitFor(tb.b.o.SSH).Checkout(ctx, g.Remote, g.Ref, g.Commit, dir, fetch.CheckoutOptions{KeepGitDir: g.KeepGitDir, Submodules: !g.SkipSubmodules}); err != nil {
		return err
	}
	src := "."
	if g.Subdir != "" {
		src = path.Clean(g.Subdir)
	}
	files, err := copyspec.Resolve(dir, []string{src}, a.Dest, copyspec.Options{Exclude: a.Exclude})
	if err != nil {
		return fmt.Errorf("adding %s: %w", g, err)
	}
	entries, err := tb.copyEntries(ctx, copyReq{context: dir, dest: a.Dest, files: files, chown: a.Chown, chmod: a.Chmod, link: a.Link}, rootfs)
	if err != nil {
		return err
	}
	return layer.WriteEntriesToDir(rootfs, entries)
}

// GitFor is the git that reaches git@ and ssh:// remotes through the
// "default" SSH agent of a build's --ssh agents, as BuildKit's git source
// does (else through the environment's SSH_AUTH_SOCK).
func GitFor(agents map[string]string) fetch.Git {
	if sock := agents["default"]; sock != "" {
		return fetch.Git{Env: []string{"SSH_AUTH_SOCK=" + sock}}
	}
	return fetch.Git{}
}

// isArchive tells a (possibly compressed) tar archive from other files.
func isArchive(p string) (bool, error) {
	r, closeFn, err := decompress(p)
	if err != nil {
		return false, nil
	}
	defer closeFn()
	buf := make([]byte, 512)
	n, _ := io.ReadFull(r, buf)
	return n >= 262 && bytes.Equal(buf[257:262], []byte("ustar")), nil
}

// decompress opens p and undoes gzip, bzip2, xz or zstd compression.
func decompress(p string) (io.Reader, func(), error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReader(f)
	magic, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		return zr, func() { f.Close() }, nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return bzip2.NewReader(br), func() { f.Close() }, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		return zr, func() { zr.Close(); f.Close() }, nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		// No xz decoder among the dependencies: use the host's xz.
		cmd := exec.Command("xz", "-dc")
		cmd.Stdin = br
		out, err := cmd.StdoutPipe()
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		if err := cmd.Start(); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("decompressing xz (needs the xz program): %w", err)
		}
		return out, func() { out.Close(); cmd.Wait(); f.Close() }, nil
	}
	return br, func() { f.Close() }, nil
}

// download fetches rawURL into downloads/, verified against checksum, and
// reuses an earlier download with the same checksum. The compiler gives a
// URL without a checksum in the configuration the digest it resolved.
func download(ctx context.Context, s *store.Store, rawURL, checksum string) (string, error) {
	want, err := v1.NewHash(checksum)
	if err != nil {
		return "", fmt.Errorf("downloading %s: checksum %q: %w", rawURL, checksum, err)
	}
	return Downloader(s).Get(ctx, rawURL, want)
}

// Downloader is the store's downloads/ as a fetch.Downloader: the compiler's
// resolution and the build share what it downloads.
func Downloader(s *store.Store) *fetch.Downloader {
	return &fetch.Downloader{Dir: filepath.Dir(s.DownloadPath(v1.Hash{Algorithm: "sha256", Hex: "x"})), Temp: filepath.Join(s.Dir(), "tmp")}
}
