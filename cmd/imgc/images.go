package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/term"

	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// usageError is a wrong command line, reported as one sentence with exit
// status 2.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

type rmiCmd struct {
	cacheFlags
	Images []string `arg:"" name:"image" help:"Images to remove: a name (tag), an image block's name, or a digest (sha256:HEX, or 12 or more hex digits)."`
	Force  bool     `short:"f" help:"Remove an image given by digest even when several names share it (all of them go)."`
}

func (c *rmiCmd) Run(e *env) error {
	s, err := c.open()
	if err != nil {
		return err
	}
	failed := false
	for _, arg := range c.Images {
		if err := c.remove(e, s, arg); err != nil {
			fmt.Fprintf(e.stderr, "imgc: %v\n", err)
			failed = true
		}
	}
	if failed {
		return exitError{exitFailed}
	}
	return nil
}

// remove untags arg when it is a name, as docker rmi does (the image goes
// when its last name does); given by digest or block name, it removes every
// name of the image, which needs -f when there are several.
func (c *rmiCmd) remove(e *env, s *store.Store, arg string) error {
	d, err := s.LookupImage(arg)
	if err != nil {
		return err
	}
	names, err := s.Names()
	if err != nil {
		return err
	}
	var same []string
	byName := ""
	for _, n := range names {
		if n.Digest == d.Digest {
			same = append(same, n.Name)
		}
		if n.Name == arg || sameRegistryName(n.Name, arg) {
			byName = n.Name
		}
	}
	drop := []string{byName}
	if byName == "" {
		if len(same) > 1 && !c.Force {
			return fmt.Errorf("%s names an image that %d names share (%s): remove them one by one, or pass -f to remove them all", arg, len(same), strings.Join(same, ", "))
		}
		drop = same
	}
	if err := s.Untag(drop); err != nil {
		return err
	}
	for _, n := range drop {
		fmt.Fprintf(e.stdout, "Untagged: %s\n", n)
	}
	if len(drop) == len(same) {
		fmt.Fprintf(e.stdout, "Deleted: %s\n", d.Digest)
	}
	return nil
}

func sameRegistryName(a, b string) bool {
	ra, err1 := name.ParseReference(a)
	rb, err2 := name.ParseReference(b)
	return err1 == nil && err2 == nil && ra.Name() == rb.Name()
}

type tagCmd struct {
	cacheFlags
	Source string `arg:"" help:"An image in the local store (a name, an image block's name or a digest)."`
	Target string `arg:"" help:"The new name, such as registry.example.com/app:1.2."`
}

func (c *tagCmd) Run(e *env) error {
	s, err := c.open()
	if err != nil {
		return err
	}
	d, err := s.LookupImage(c.Source)
	if err != nil {
		return err
	}
	if _, err := name.NewTag(c.Target); err != nil || strings.ContainsAny(c.Target, "@ \t") {
		return usagef("%q is not an image name: write NAME[:TAG], such as registry.example.com/app:1.2", c.Target)
	}
	d.Annotations = nil
	return s.TagImages(d, []string{c.Target})
}

type pullCmd struct {
	cacheFlags
	Ref      string `arg:"" help:"A registry reference: NAME[:TAG] or NAME@sha256:DIGEST."`
	Platform string `placeholder:"OS/ARCH" help:"The platform to pull from a multi-platform image (default: linux and this machine's architecture)."`
}

func (c *pullCmd) Run(e *env) error {
	s, err := c.open()
	if err != nil {
		return err
	}
	pl, err := parsePlatform(c.Platform)
	if err != nil {
		return err
	}
	d, err := imageio.Pull(e.ctx, s, c.Ref, pl)
	if err != nil {
		return registryError(err)
	}
	fmt.Fprintf(e.stdout, "%s %s\n", d, c.Ref)
	return nil
}

func parsePlatform(p string) (ir.Platform, error) {
	pl := ir.Platform{OS: "linux", Architecture: hostArch()}
	if p == "" {
		return pl, nil
	}
	parts := strings.Split(p, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return pl, usagef("--platform %q: write OS/ARCH[/VARIANT], such as linux/arm64", p)
	}
	pl = ir.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		pl.Variant = parts[2]
	}
	return pl, nil
}

type loadCmd struct {
	cacheFlags
	Input string `short:"i" placeholder:"FILE" help:"Read the archive from FILE instead of standard input."`
}

func (c *loadCmd) Run(e *env) error {
	s, err := c.open()
	if err != nil {
		return err
	}
	p := c.Input
	if p == "" || p == "-" {
		if f, ok := os.Stdin.Stat(); ok == nil && f.Mode()&os.ModeCharDevice != 0 {
			return usagef("imgc load reads an archive from standard input, which is a terminal: pipe one in, or pass -i FILE")
		}
		tmp, err := s.TempFile("load-*.tar")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		_, err = io.Copy(tmp, os.Stdin)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("reading standard input: %w", err)
		}
		p = tmp.Name()
	}
	pl := ir.Platform{OS: "linux", Architecture: hostArch()}
	loaded, err := imageio.Load(s, p, pl)
	if err != nil {
		return err
	}
	for _, l := range loaded {
		if len(l.Names) == 0 {
			fmt.Fprintf(e.stdout, "Loaded image ID: %s (no name: tag it with imgc tag %s NAME)\n", l.Digest, shortDigest(l.Digest))
		}
		for _, n := range l.Names {
			fmt.Fprintf(e.stdout, "Loaded image: %s %s\n", n, l.Digest)
		}
	}
	return nil
}

type loginCmd struct {
	Server        string `arg:"" optional:"" help:"The registry host (default: Docker Hub)."`
	Username      string `short:"u" placeholder:"USER" help:"The user name."`
	Password      string `short:"p" placeholder:"PASSWORD" help:"The password (prefer --password-stdin: a password on the command line shows in ps and the shell history)."`
	PasswordStdin bool   `name:"password-stdin" help:"Read the password from standard input."`
}

// dockerHubServer is the key Docker keeps Docker Hub's credentials under.
const dockerHubServer = "https://index.docker.io/v1/"

func credentialKey(server string) (key, host string) {
	s := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://"), "/")
	if s == "" || s == "docker.io" || s == "index.docker.io" || s == "registry-1.docker.io" || s == "index.docker.io/v1" {
		return dockerHubServer, "index.docker.io"
	}
	return s, s
}

func (c *loginCmd) Run(e *env) error {
	key, host := credentialKey(c.Server)
	user, pass := c.Username, c.Password
	if c.PasswordStdin {
		if pass != "" {
			return usagef("--password and --password-stdin are exclusive: use --password-stdin")
		}
		if user == "" {
			return usagef("--password-stdin needs the user name: pass -u USER")
		}
		b, err := io.ReadAll(bufio.NewReader(os.Stdin))
		if err != nil {
			return fmt.Errorf("reading the password: %w", err)
		}
		pass = strings.TrimRight(string(b), "\r\n")
	}
	if user == "" || pass == "" {
		if !isTerminal(os.Stdin) {
			return usagef("imgc login needs -u USER and --password-stdin when standard input is not a terminal")
		}
		in := bufio.NewReader(os.Stdin)
		if user == "" {
			fmt.Fprint(e.stderr, "Username: ")
			l, _ := in.ReadString('\n')
			user = strings.TrimSpace(l)
		}
		if pass == "" {
			fmt.Fprint(e.stderr, "Password: ")
			b, err := term.ReadPassword(int(os.Stdin.Fd()))
			fmt.Fprintln(e.stderr)
			if err != nil {
				return fmt.Errorf("reading the password: %w", err)
			}
			pass = string(b)
		}
	}
	if user == "" || pass == "" {
		return usagef("imgc login needs a user name and a password")
	}
	if err := imageio.CheckLogin(e.ctx, host, user, pass); err != nil {
		if msg := imageio.ProblemSentence(err); msg != "" {
			return errors.New(msg)
		}
		if strings.Contains(err.Error(), "refused the user name") {
			return err
		}
		return fmt.Errorf("logging in to %s: %w", host, err)
	}
	cf, err := config.Load(config.Dir())
	if err != nil {
		return fmt.Errorf("reading %s: %w", config.Dir(), err)
	}
	if err := cf.GetCredentialsStore(key).Store(types.AuthConfig{ServerAddress: key, Username: user, Password: pass}); err != nil {
		return fmt.Errorf("saving the credentials: %w", err)
	}
	if err := cf.Save(); err != nil {
		return fmt.Errorf("saving the credentials: %w", err)
	}
	fmt.Fprintf(e.stdout, "Login Succeeded (credentials saved in %s)\n", cf.Filename)
	return nil
}

type logoutCmd struct {
	Server string `arg:"" optional:"" help:"The registry host (default: Docker Hub)."`
}

func (c *logoutCmd) Run(e *env) error {
	key, _ := credentialKey(c.Server)
	cf, err := config.Load(config.Dir())
	if err != nil {
		return fmt.Errorf("reading %s: %w", config.Dir(), err)
	}
	if _, ok := cf.AuthConfigs[key]; !ok && cf.CredentialsStore == "" && cf.CredentialHelpers[key] == "" {
		fmt.Fprintf(e.stdout, "Not logged in to %s\n", key)
		return nil
	}
	if err := cf.GetCredentialsStore(key).Erase(key); err != nil {
		return fmt.Errorf("removing the credentials: %w", err)
	}
	if err := cf.Save(); err != nil {
		return fmt.Errorf("removing the credentials: %w", err)
	}
	fmt.Fprintf(e.stdout, "Removing login credentials for %s\n", key)
	return nil
}

// imageFilter is `imgc images`'s selection: a reference pattern (the
// argument and --filter reference=) and dangling=.
type imageFilter struct {
	patterns []string
	dangling *bool
}

func parseImageFilters(arg string, filters []string) (imageFilter, error) {
	var f imageFilter
	if arg != "" {
		f.patterns = append(f.patterns, arg)
	}
	for _, fl := range filters {
		k, v, ok := strings.Cut(fl, "=")
		switch {
		case !ok:
			return f, usagef("--filter %q: write KEY=VALUE (reference=PATTERN or dangling=true|false)", fl)
		case k == "reference":
			if _, err := path.Match(v, ""); err != nil {
				return f, usagef("--filter %q: the pattern is malformed", fl)
			}
			f.patterns = append(f.patterns, v)
		case k == "dangling" && (v == "true" || v == "false"):
			b := v == "true"
			f.dangling = &b
		case k == "dangling":
			return f, usagef("--filter %q: dangling is true or false", fl)
		default:
			return f, usagef("--filter %q: imgc filters by reference=PATTERN and dangling=true|false", fl)
		}
	}
	return f, nil
}

// match says whether the image called n passes: a pattern matches the name,
// the name without its tag, or the last path element of either (so
// "app", "app:*" and "localhost/*" all find localhost/app:1).
func (f imageFilter) match(n string) bool {
	if f.dangling != nil && *f.dangling != (n == "") {
		return false
	}
	if len(f.patterns) == 0 {
		return true
	}
	repo := n
	if i := strings.LastIndex(n, ":"); i > strings.LastIndex(n, "/") {
		repo = n[:i]
	}
	for _, p := range f.patterns {
		for _, cand := range []string{n, repo, path.Base(n), path.Base(repo)} {
			if ok, _ := path.Match(p, cand); ok {
				return true
			}
		}
	}
	return false
}

// registryError turns what go-containerregistry and the network say into
// one sentence.
func registryError(err error) error {
	var pes imageio.PushErrors
	if errors.As(err, &pes) {
		msgs := make([]string, len(pes))
		for i, pe := range pes {
			msgs[i] = fmt.Sprintf("pushing %s: %s", pe.Dest, plainError(pe.Err))
		}
		return fmt.Errorf("%d pushes failed (the tags not listed here were pushed):\n  %s\nThe image is built and in imgc's store: push those tags with imgc push once that is mended", len(pes), strings.Join(msgs, "\n  "))
	}
	var ce *imageio.CacheExportError
	if errors.As(err, &ce) {
		return fmt.Errorf("%s. The image is built and in imgc's store; build again to export the cache once that is mended", ce.Sentence())
	}
	msg := imageio.ProblemSentence(err)
	var pe *imageio.PushError
	if errors.As(err, &pe) {
		if msg == "" {
			msg = plainError(pe.Err)
		}
		return fmt.Errorf("pushing %s: %s. The image is built and in imgc's store: push it with imgc push %s once that is mended", pe.Dest, msg, pe.Dest)
	}
	if msg != "" {
		return errors.New(msg)
	}
	return err
}
