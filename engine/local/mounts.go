package local

import (
	"context"
	"errors"
	"fmt"
	"github.com/imgc-dev/imgc/internal/overlay"
	"golang.org/x/sys/unix"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/flock"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"

	"github.com/imgc-dev/imgc/internal/chmod"
)

// runMounts prepares a run step's mounts. release unlocks cache mounts and
// removes private copies.
func (tb *targetBuild) runMounts(ctx context.Context, r *ir.Run) (mounts []specs.Mount, env []string, release func(), err error) {
	s := tb.b.s
	var cleanups []func()
	release = func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	for _, m := range r.Mounts {
		target := path.Clean("/" + m.Target)
		switch m.Type {
		case ir.MountCache:
			seed, err := newCacheSeed(m)
			if err != nil {
				return nil, nil, release, err
			}
			dir, done, err := cacheMount(ctx, s, m, tb.t.Platform, seed)
			if err != nil {
				return nil, nil, release, err
			}
			cleanups = append(cleanups, done)
			opts := []string{"rbind", "rw"}
			if m.ReadOnly {
				opts = []string{"rbind", "ro"}
			}
			mounts = append(mounts, specs.Mount{Destination: target, Type: "bind", Source: dir, Options: opts})
		case ir.MountSecret:
			src, ok := tb.b.o.Secrets[m.ID]
			if !ok {
				if m.Required {
					return nil, nil, release, fmt.Errorf("secret %q is required but not given (pass --secret id=%s,src=FILE)", m.ID, m.ID)
				}
				continue
			}
			if m.Env != "" {
				data, err := os.ReadFile(src)
				if err != nil {
					return nil, nil, release, fmt.Errorf("reading secret %q: %w", m.ID, err)
				}
				env = append(env, m.Env+"="+string(data))
				if m.Target == "" {
					continue
				}
			}
			if _, err := os.Stat(src); err != nil {
				return nil, nil, release, fmt.Errorf("reading secret %q: %w", m.ID, err)
			}
			if m.Mode != nil || m.UID != nil || m.GID != nil {
				copied, done, err := secretCopy(src, m)
				if err != nil {
					return nil, nil, release, fmt.Errorf("reading secret %q: %w", m.ID, err)
				}
				cleanups = append(cleanups, done)
				src = copied
			}
			if m.Target == "" {
				target = "/run/secrets/" + m.ID
			}
			mounts = append(mounts, specs.Mount{Destination: target, Type: "bind", Source: src, Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"}})
		case ir.MountBind:
			mnt, done, err := tb.bindMount(ctx, m, target)
			if err != nil {
				return nil, nil, release, err
			}
			cleanups = append(cleanups, done)
			mounts = append(mounts, mnt)
		case ir.MountSSH:
			sock, ok := tb.b.o.SSH[m.ID]
			if !ok {
				if m.Required {
					return nil, nil, release, fmt.Errorf("the SSH agent %q is required but not given (pass --ssh %s=SOCKET or KEY)", m.ID, m.ID)
				}
				continue
			}
			proxy, done, err := sshProxy(sock, m)
			if err != nil {
				return nil, nil, release, fmt.Errorf("forwarding the SSH agent %q: %w", m.ID, err)
			}
			cleanups = append(cleanups, done)
			mounts = append(mounts, specs.Mount{Destination: target, Type: "bind", Source: proxy, Options: []string{"rbind", "nosuid", "nodev", "noexec"}})
		case ir.MountTmpfs:
			opts := []string{"nosuid", "nodev", "mode=1777"}
			if m.Size > 0 {
				opts = append(opts, "size="+strconv.FormatInt(m.Size, 10))
			}
			mounts = append(mounts, specs.Mount{Destination: target, Type: "tmpfs", Source: "tmpfs", Options: opts})
		default:
			return nil, nil, release, fmt.Errorf("unknown mount type %q", m.Type)
		}
	}
	return mounts, env, release, nil
}

// bindSource resolves the host path a bind mount shows: Source inside the
// target it is from (mounted read-only) or inside the build context,
// restricted for the context to what the ignore files leave in. done
// undoes what it mounted.
func (tb *targetBuild) bindSource(ctx context.Context, m ir.Mount) (src string, done func(), err error) {
	root := tb.b.o.Context
	if m.Context != "" {
		root = m.Context
	}
	if m.FromTarget != "" {
		res := tb.b.result(m.FromTarget)
		if res == nil {
			return "", nil, fmt.Errorf("bind mount from %s: it is not built", m.FromTarget)
		}
		root, err = tb.b.fs.root(ctx, m.FromTarget, res)
		if err != nil {
			return "", nil, fmt.Errorf("mounting %s: %w", m.FromTarget, err)
		}
	} else if root == "" {
		return "", nil, fmt.Errorf("bind mount of %q: %w", m.Source, errNoContext)
	}
	src, err = resolveInRoot(root, m.Source)
	if err != nil {
		return "", nil, fmt.Errorf("bind mount of %q: %w", m.Source, err)
	}
	if m.FromTarget == "" && m.Files != nil {
		// The context as BuildKit shows it: without what the ignore
		// files leave out (and the key does not cover).
		view, done, err := contextView(src, m.Files)
		if err != nil {
			return "", nil, fmt.Errorf("bind mount of %q: %w", m.Source, err)
		}
		return view, done, nil
	}
	return src, func() {}, nil
}

// contextView mounts, read-only, the directory src showing only files (and
// the directories above them): a layer of whiteouts over src hides the rest.
// A src that is not a directory is returned as it is.
func contextView(src string, files []ir.CopyFile) (string, func(), error) {
	if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
		return src, func() {}, nil
	}
	keep := map[string]bool{}
	for _, f := range files {
		for p := strings.Trim(path.Clean(f.Dst), "/"); p != "" && p != "."; p = path.Dir(p) {
			keep[p] = true
			if !strings.Contains(p, "/") {
				break
			}
		}
	}
	// Outside src: overlayfs refuses layers nested in one another, and the
	// cache dir may well sit in the build context.
	parent := os.TempDir()
	if r, err := filepath.Rel(src, parent); err == nil && !strings.HasPrefix(r, "..") {
		parent = "/run"
	}
	tmp, err := os.MkdirTemp(parent, "imgc-ctx-")
	if err != nil {
		return "", nil, err
	}
	hide := filepath.Join(tmp, "hide")
	view := filepath.Join(tmp, "view")
	for _, d := range []string{hide, view} {
		if err := os.Mkdir(d, 0o755); err != nil {
			os.RemoveAll(tmp)
			return "", nil, err
		}
	}
	hidden := 0
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == src {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if keep[filepath.ToSlash(rel)] {
			return nil
		}
		wh := filepath.Join(hide, rel)
		if err := os.MkdirAll(filepath.Dir(wh), 0o755); err != nil {
			return err
		}
		// An overlay whiteout: a 0:0 character device hides the name below.
		if err := unix.Mknod(wh, unix.S_IFCHR, 0); err != nil {
			return fmt.Errorf("hiding %s: %w", rel, err)
		}
		hidden++
		if d.IsDir() {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		os.RemoveAll(tmp)
		return "", nil, err
	}
	if hidden == 0 {
		os.RemoveAll(tmp)
		return src, func() {}, nil
	}
	if err := overlay.Mount(view, []string{hide, src}, "", ""); err != nil {
		os.RemoveAll(tmp)
		return "", nil, err
	}
	return view, func() {
		overlay.Unmount(view)
		os.RemoveAll(tmp)
	}, nil
}

// cacheMount returns the persistent directory of a cache mount of a step
// of platform p, locked as its sharing mode asks. Without an id (the
// front ends make it the target), each
// platform has its own (the host's named by the target alone, as before
// multi-platform builds; another's by the target and the platform), since
// what compilers and package managers cache is per architecture; an
// explicit id is the same directory for every platform, as in BuildKit,
// whose default id (the target) is shared too.
//
// A cache with a seed (from= a named directory) is a cache of its own per
// id and seed content, made from the seed, as BuildKit keys such a cache
// by id and the source's snapshot.
func cacheMount(ctx context.Context, s *store.Store, m ir.Mount, p ir.Platform, seed *cacheSeed) (string, func(), error) {
	id := m.ID
	if id == "" || id == m.Target {
		// The front ends write the default id, the target, out.
		id = m.Target
		if p.OS != "" && !(p.OS == "linux" && p.Architecture == runtime.GOARCH && p.Variant == "") {
			id += "@" + p.String()
		}
	}
	name := strings.NewReplacer("/", "_", "\\", "_", ":", "_").Replace(id)
	name = strings.TrimLeft(name, ".")
	if name == "" {
		name = "_"
	}
	if seed != nil {
		name += "@" + seed.digest[:16]
	}
	dir := s.CacheMountDir(name)
	if !exists(dir) {
		tmp, err := s.TempDir("cache-")
		if err != nil {
			return "", nil, err
		}
		err = setupMountDir(tmp, m)
		if err == nil && seed != nil {
			err = seed.copyTo(tmp)
		}
		if err != nil {
			os.RemoveAll(tmp)
			return "", nil, err
		}
		if err := os.Rename(tmp, dir); err != nil {
			os.RemoveAll(tmp)
			if !exists(dir) {
				return "", nil, fmt.Errorf("making cache mount %q: %w", id, err)
			}
		}
	}
	lk := flock.New(dir + ".lock")
	switch m.Sharing {
	case "locked":
		if ok, err := lk.TryLockContext(ctx, 20*time.Millisecond); !ok {
			return "", nil, fmt.Errorf("locking cache mount %q: %w", id, errors.Join(err, ctx.Err()))
		}
	case "private":
		ok, err := lk.TryLock()
		if err != nil {
			return "", nil, fmt.Errorf("locking cache mount %q: %w", id, err)
		}
		if !ok {
			// In use: this step gets a fresh private directory.
			tmp, err := s.TempDir("cache-private-")
			if err != nil {
				return "", nil, err
			}
			if err := setupMountDir(tmp, m); err != nil {
				os.RemoveAll(tmp)
				return "", nil, err
			}
			return tmp, func() { os.RemoveAll(tmp) }, nil
		}
	default:
		if ok, err := lk.TryRLockContext(ctx, 20*time.Millisecond); !ok {
			return "", nil, fmt.Errorf("locking cache mount %q: %w", id, errors.Join(err, ctx.Err()))
		}
	}
	return dir, func() { lk.Unlock() }, nil
}

// secretCopy copies a secret that must get its own mode or owner into a
// private directory in memory (/dev/shm when there is one), never into the
// cache directory. done removes it.
func secretCopy(src string, m ir.Mount) (string, func(), error) {
	base := "/dev/shm"
	if fi, err := os.Stat(base); err != nil || !fi.IsDir() {
		base = os.TempDir()
	}
	dir, err := os.MkdirTemp(base, "imgc-secret-")
	if err != nil {
		return "", nil, err
	}
	done := func() { os.RemoveAll(dir) }
	data, err := os.ReadFile(src)
	if err != nil {
		done()
		return "", nil, err
	}
	mode := uint32(0o400)
	if m.Mode != nil {
		mode = *m.Mode
	}
	p := filepath.Join(dir, "secret")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		done()
		return "", nil, err
	}
	uid, gid := 0, 0
	if m.UID != nil {
		uid = *m.UID
	}
	if m.GID != nil {
		gid = *m.GID
	}
	if err := os.Chown(p, uid, gid); err != nil {
		done()
		return "", nil, err
	}
	if err := os.Chmod(p, fs.FileMode(mode).Perm()); err != nil {
		done()
		return "", nil, err
	}
	return p, done, nil
}

func setupMountDir(dir string, m ir.Mount) error {
	mode := uint32(0o755)
	if m.Mode != nil {
		mode = *m.Mode
	}
	if err := os.Chmod(dir, chmod.FromUnix(mode)); err != nil {
		return err
	}
	uid, gid := 0, 0
	if m.UID != nil {
		uid = *m.UID
	}
	if m.GID != nil {
		gid = *m.GID
	}
	return os.Chown(dir, uid, gid)
}
