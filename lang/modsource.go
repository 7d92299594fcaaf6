package lang

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// ModuleCacheEnv names the environment variable that sets the directory
// git module sources are checked out in (default: the user's cache
// directory, imgc-modules).
const ModuleCacheEnv = "IMGC_MODULE_CACHE"

// fetchGit checks out a git module source, URL[//SUBDIR][?ref=REF], once
// per URL and ref, and returns the module's directory in the checkout. A
// checkout is kept and reused: delete it to fetch a moved branch again.
func fetchGit(src string) (string, error) {
	url, ref, _ := strings.Cut(src, "?ref=")
	subdir := ""
	if scheme := strings.Index(url, "://"); scheme >= 0 {
		rest := url[scheme+3:]
		if i := strings.Index(rest, "//"); i >= 0 {
			url, subdir = url[:scheme+3+i], rest[i+2:]
		}
	}
	if url == "" {
		return "", errors.New("the source names no repository")
	}
	if strings.HasPrefix(ref, "-") {
		return "", fmt.Errorf("the ref %q starts with a dash; name a branch, a tag or a commit", ref)
	}
	if subdir != "" {
		clean := path.Clean(subdir)
		if clean == ".." || strings.HasPrefix(clean, "../") || path.IsAbs(clean) {
			return "", fmt.Errorf("the subdirectory %q leaves the repository", subdir)
		}
		subdir = clean
	}
	cache := os.Getenv(ModuleCacheEnv)
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("finding the module cache: %w (set %s)", err, ModuleCacheEnv)
		}
		cache = filepath.Join(base, "imgc-modules") // apart from imgc's cache, which cache prune empties
	}
	sum := sha256.Sum256([]byte(url + "\x00" + ref))
	dir := filepath.Join(cache, hex.EncodeToString(sum[:12]))
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		if err := os.MkdirAll(cache, 0o755); err != nil {
			return "", fmt.Errorf("creating the module cache: %w", err)
		}
		tmp, err := os.MkdirTemp(cache, ".fetch-")
		if err != nil {
			return "", fmt.Errorf("creating the module cache: %w", err)
		}
		defer os.RemoveAll(tmp)
		if err := gitClone(url, ref, tmp); err != nil {
			return "", err
		}
		if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) {
			if _, serr := os.Stat(filepath.Join(dir, ".git")); serr != nil {
				return "", fmt.Errorf("placing the checkout: %w", err)
			}
		}
	}
	return filepath.Join(dir, filepath.FromSlash(subdir)), nil
}

// gitClone clones url into dir at ref (a branch, a tag or a commit; ""
// is the default branch).
func gitClone(url, ref, dir string) error {
	args := []string{"clone", "--quiet"}
	if ref != "" {
		args = append(args, "--no-checkout")
	}
	if err := git("", append(args, "--", url, dir)...); err != nil {
		return err
	}
	if ref == "" {
		return nil
	}
	return git(dir, "checkout", "--quiet", ref, "--")
}

func git(dir string, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	// No prompt for credentials: a build must not wait for a terminal.
	// Only transports that fetch: never ext:: (which runs a command) or
	// fd::.
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ALLOW_PROTOCOL=file:git:http:https:ssh")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimRight(strings.TrimSpace(out.String()), ".")
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("git %s: %s", args[0], msg)
	}
	return nil
}
