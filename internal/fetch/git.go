package fetch

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Git runs the system git binary against remote repositories.
type Git struct {
	// Env is added to git's environment (SSH_AUTH_SOCK for git@ remotes).
	Env []string
}

// IsCommit tells a full commit id (sha1 or sha256) from a ref name.
func IsCommit(ref string) bool {
	if len(ref) != 40 && len(ref) != 64 {
		return false
	}
	return strings.Trim(ref, "0123456789abcdef") == ""
}

// Resolve returns the commit ref ("" is HEAD) names at remote, asking the
// remote with git ls-remote unless ref is a commit already. A tag names
// the commit it points to.
func (g Git) Resolve(ctx context.Context, remote, ref string) (string, error) {
	if IsCommit(ref) {
		return ref, nil
	}
	pattern := ref
	if pattern == "" {
		pattern = "HEAD"
	}
	// Protocol version 0 lists annotated tags peeled too (v2 leaves them out).
	out, err := g.run(ctx, "", "-c", "protocol.version=0", "ls-remote", "--", remote, pattern, pattern+"^{}")
	if err != nil {
		return "", fmt.Errorf("resolving %s of %s: %w", pattern, remote, err)
	}
	refs := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		id, name, ok := strings.Cut(line, "\t")
		if ok {
			refs[name] = id
		}
	}
	for _, name := range []string{pattern, "refs/tags/" + pattern + "^{}", "refs/tags/" + pattern, "refs/heads/" + pattern} {
		if id, ok := refs[name+"^{}"]; ok {
			return id, nil
		}
		if id, ok := refs[name]; ok {
			return id, nil
		}
	}
	return "", fmt.Errorf("resolving %s of %s: no such branch or tag", pattern, remote)
}

// CheckoutOptions are what a checkout keeps besides the tree.
type CheckoutOptions struct {
	// KeepGitDir keeps the .git directory, HEAD detached at the commit.
	KeepGitDir bool
	// Submodules checks the submodules out too, recursively with depth
	// 1 (BuildKit's `git submodule update --init --recursive --depth=1`).
	Submodules bool
}

// Checkout writes commit of remote into dir (which must not exist),
// fetching ref (the name commit was resolved from, or "") with depth 1.
func (g Git) Checkout(ctx context.Context, remote, ref, commit, dir string, o CheckoutOptions) error {
	want := ref
	if want == "" {
		want = "HEAD"
	}
	if IsCommit(ref) {
		want = commit
	}
	steps := [][]string{
		{"init", "-q", dir},
		{"-C", dir, "remote", "add", "origin", remote},
		{"-C", dir, "fetch", "-q", "--depth=1", "--no-tags", "origin", want},
		{"-C", dir, "-c", "advice.detachedHead=false", "checkout", "-q", "--detach", commit},
	}
	for i, args := range steps {
		if _, err := g.run(ctx, "", args...); err != nil {
			if i == len(steps)-1 {
				return fmt.Errorf("checking out %s of %s (did %s move since it was resolved?): %w", commit, remote, want, err)
			}
			return fmt.Errorf("fetching %s of %s: %w", want, remote, err)
		}
	}
	if o.Submodules {
		// As BuildKit: a submodule may not be a path on this machine.
		if _, err := g.run(ctx, "", "-C", dir, "-c", "protocol.file.allow=user", "submodule", "update", "--init", "--recursive", "--depth=1"); err != nil {
			return fmt.Errorf("checking out the submodules of %s at %s: %w", remote, commit, err)
		}
	}
	if o.KeepGitDir {
		return nil
	}
	if err := os.RemoveAll(filepath.Join(dir, ".git")); err != nil {
		return err
	}
	if o.Submodules {
		return removeGitFiles(dir)
	}
	return nil
}

// removeGitFiles removes the .git files of checked-out submodules below
// dir: each points into the superproject's .git directory, which is gone
// (a git tree holds no other entry named .git).
func removeGitFiles(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == ".git" && p != dir {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
}

func (g Git) run(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	// Never prompt for credentials, and read no user or system config
	// that could rewrite the remote.
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_PROTOCOL_FROM_USER=0")
	cmd.Env = append(cmd.Env, g.Env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return nil, err
		}
		return nil, fmt.Errorf("git %s: %s", subcommand(args), lastLines(msg, 4))
	}
	return out, nil
}

// subcommand is the git command args run, past -C DIR and -c K=V.
func subcommand(args []string) string {
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-C", "-c":
			i++
		default:
			return args[i]
		}
	}
	return ""
}

// lastLines is the last n non-blank lines of s, joined with "; ".
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}
