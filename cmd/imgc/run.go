package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/engine/local/runc"
	"github.com/imgc-dev/imgc/store"
)

type runCmd struct {
	cacheFlags
	storePlatform
	Image         string   `arg:"" name:"image" help:"An image in the local store."`
	Args          []string `arg:"" optional:"" passthrough:"" help:"Arguments after the image name, passed as given even when they look like flags: they follow --entrypoint's executable, or replace the image's cmd."`
	Entrypoint    *string  `placeholder:"EXECUTABLE" help:"Run this executable instead of the image's entrypoint, as docker run --entrypoint (its arguments go after the image name); --entrypoint \"\" clears it."`
	Env           []string `short:"e" sep:"none" placeholder:"NAME[=VALUE]" help:"Set an environment variable (repeatable); NAME alone takes imgc's own value."`
	EnvFile       []string `name:"env-file" sep:"none" placeholder:"FILE" help:"Read environment variables from a file of NAME=VALUE lines (repeatable; # starts a comment)."`
	Volume        []string `short:"v" sep:"none" placeholder:"HOST:CTR[:ro]" help:"Bind a host file or directory into the container (repeatable); :ro makes it read-only."`
	Workdir       string   `short:"w" placeholder:"DIR" help:"The working directory inside the container (default: the image's)."`
	User          string   `short:"u" placeholder:"USER[:GROUP]" help:"Run as this user (a name or uid, with an optional group; default: the image's)."`
	Interactive   bool     `short:"i" help:"Keep standard input open and connect it to the container."`
	Tty           bool     `short:"t" help:"Give the container a terminal when imgc runs in one (else a warning, and none)."`
	Network       string   `enum:"default,host,none" default:"default" help:"default (a private network with outbound access; the host's 127.0.0.1 is out of reach), host (the host's) or none (loopback only)."`
	Publish       []string `short:"p" sep:"none" placeholder:"[IP:]HOST:CTR" help:"Publish the container's TCP port CTR on the host's port HOST, on 127.0.0.1 unless IP is given (repeatable; default network only)."`
	ContainerName string   `name:"name" placeholder:"NAME" help:"Name the container (its runtime id and host name); two containers cannot share one."`
	Rm            bool     `help:"Accepted for docker's habit: imgc run always removes the container when it exits."`
}

func (c *runCmd) Run(e *env) error {
	s, err := c.open()
	if err != nil {
		return err
	}
	args := c.Args
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	opts, err := c.options()
	if err != nil {
		fmt.Fprintf(e.stderr, "imgc: %v\n", err)
		return exitError{exitBadInput}
	}
	opts.Args = args
	if opts.Platform, err = c.platform(); err != nil {
		return err
	}
	if c.Tty && !opts.Terminal {
		fmt.Fprintln(e.stderr, "imgc: warning: -t: standard input or output is not a terminal, so the container gets none")
	}
	opts.Stdout, opts.Stderr = streaming(e.stdout), e.stderr
	if !opts.Terminal {
		opts.Stderr = dropRuncFailure{e.stderr}
	}
	if c.Interactive || c.Tty {
		opts.Stdin = os.Stdin
	}
	code, err := local.New(s).RunImage(e.ctx, c.Image, opts)
	if err != nil {
		if e.ctx.Err() != nil {
			return exitError{130}
		}
		var noImage *store.NoImageError
		if errors.As(err, &noImage) {
			return err
		}
		msg, status := startFailure(err)
		fmt.Fprintf(e.stderr, "imgc: %s\n", msg)
		return exitError{status}
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}

// dropRuncFailure passes the container's standard error through, except
// the line runc writes there when the process could not start, which imgc
// says again in its own words (see startFailure). runc writes that line at
// once, so it starts a write of its own.
type dropRuncFailure struct{ w io.Writer }

func (d dropRuncFailure) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("runc run failed: ")) {
		return len(p), nil
	}
	return d.w.Write(p)
}

// startFailure says why a container did not start, without runc's
// wrapping, and the status docker run exits with for it: 127 when the
// command is not in the image, 126 when it cannot be run, else 125.
func startFailure(err error) (string, int) {
	msg := runcPrefix.ReplaceAllString(err.Error(), "")
	if m := execError.FindStringSubmatch(msg); m != nil {
		switch {
		case strings.Contains(msg, "no such file or directory") || strings.Contains(msg, "not found"):
			return fmt.Sprintf("the command %s is not in the image (check --entrypoint and the arguments after the image name)", m[1]), 127
		case strings.Contains(msg, "permission denied"):
			return fmt.Sprintf("the command %s cannot be run: permission denied (is it executable?)", m[1]), 126
		}
	}
	return msg, 125
}

var (
	runcPrefix = regexp.MustCompile(`^(running container [^:]+: )?(unable to start container process: )?(error during container init: )?`)
	execError  = regexp.MustCompile(`exec: ("[^"]*")`)
)

// options turns the flags into RunOptions, checking each value.
func (c *runCmd) options() (local.RunOptions, error) {
	o := local.RunOptions{Network: c.Network, Workdir: c.Workdir, User: c.User, Name: c.ContainerName}
	if c.Entrypoint != nil {
		o.Entrypoint = []string{}
		if *c.Entrypoint != "" {
			o.Entrypoint = []string{*c.Entrypoint}
		}
	}
	if c.Workdir != "" && !strings.HasPrefix(c.Workdir, "/") {
		return o, fmt.Errorf("-w %q: the working directory must be an absolute path inside the container", c.Workdir)
	}
	for _, f := range c.EnvFile {
		env, err := readEnvFile(f)
		if err != nil {
			return o, err
		}
		o.Env = append(o.Env, env...)
	}
	for _, kv := range c.Env {
		v, err := envValue(kv)
		if err != nil {
			return o, fmt.Errorf("-e %q: %v", kv, err)
		}
		if v != "" {
			o.Env = append(o.Env, v)
		}
	}
	for _, v := range c.Volume {
		b, err := parseVolume(v)
		if err != nil {
			return o, fmt.Errorf("-v %q: %v", v, err)
		}
		o.Binds = append(o.Binds, b)
	}
	for _, p := range c.Publish {
		port, err := parsePublish(p)
		if err != nil {
			return o, fmt.Errorf("-p %q: %v", p, err)
		}
		o.Ports = append(o.Ports, port)
	}
	if len(o.Ports) > 0 && c.Network != "default" {
		return o, fmt.Errorf("-p publishes ports of the default network, and --network is %q: drop one of them", c.Network)
	}
	// -t gives a terminal when imgc has one: `imgc run -it` in a script
	// or CI runs without, rather than failing as docker does.
	o.Terminal = c.Tty && isTerminal(os.Stdin) && isTerminal(os.Stdout)
	if n := c.ContainerName; n != "" {
		for _, r := range n {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
				return o, fmt.Errorf("--name %q: a name has only letters, digits, '_', '.' and '-'", n)
			}
		}
		if _, err := os.Stat(filepath.Join(runc.RuncRoot, n)); err == nil {
			return o, fmt.Errorf("--name %q: a container of that name is running; choose another name", n)
		}
	}
	return o, nil
}

// envValue reads -e NAME=VALUE, or NAME alone, which takes imgc's own
// value and is left out when imgc has none, as docker does.
func envValue(kv string) (string, error) {
	name, _, hasValue := strings.Cut(kv, "=")
	if name == "" || strings.ContainsAny(name, " \t") {
		return "", fmt.Errorf("write NAME=VALUE, or NAME to pass imgc's own value")
	}
	if hasValue {
		return kv, nil
	}
	if v, ok := os.LookupEnv(name); ok {
		return name + "=" + v, nil
	}
	return "", nil
}

// readEnvFile reads docker's --env-file format: NAME=VALUE lines, NAME
// alone for imgc's own value, blank lines and # comments skipped; values
// are taken as written (no quotes removed).
func readEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--env-file %s: %v", path, unwrapPathError(err))
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := envValue(line)
		if err != nil {
			return nil, fmt.Errorf("--env-file %s line %d: %v", path, n, err)
		}
		if v != "" {
			out = append(out, v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--env-file %s: %v", path, err)
	}
	return out, nil
}

// parseVolume reads -v HOST:CTR[:ro|:rw]. HOST must exist: unlike docker,
// imgc makes no named volumes.
func parseVolume(v string) (local.Bind, error) {
	parts := strings.Split(v, ":")
	var b local.Bind
	switch {
	case len(parts) == 3 && (parts[2] == "ro" || parts[2] == "rw"):
		b.ReadOnly = parts[2] == "ro"
	case len(parts) == 2:
	default:
		return b, fmt.Errorf("write HOST:CTR or HOST:CTR:ro")
	}
	if parts[0] == "" || parts[1] == "" {
		return b, fmt.Errorf("write HOST:CTR or HOST:CTR:ro")
	}
	if !strings.HasPrefix(parts[1], "/") {
		return b, fmt.Errorf("the container path %q must be absolute", parts[1])
	}
	src, err := filepath.Abs(parts[0])
	if err != nil {
		return b, err
	}
	if !strings.ContainsAny(parts[0], "/.") {
		return b, fmt.Errorf("imgc binds host paths only, and %q is a volume name: write ./%s for a directory here", parts[0], parts[0])
	}
	if _, err := os.Stat(src); err != nil {
		return b, fmt.Errorf("the host path %s does not exist", src)
	}
	b.Source, b.Target = src, filepath.Clean(parts[1])
	return b, nil
}

// parsePublish reads -p [IP:]HOST:CTR[/tcp].
func parsePublish(p string) (runc.Port, error) {
	spec, proto, _ := strings.Cut(p, "/")
	if proto != "" && proto != "tcp" {
		return runc.Port{}, fmt.Errorf("imgc publishes TCP ports only")
	}
	parts := strings.Split(spec, ":")
	var port runc.Port
	switch len(parts) {
	case 2:
	case 3:
		port.HostIP = parts[0]
		parts = parts[1:]
	default:
		return port, fmt.Errorf("write HOST:CTR (such as 8080:80) or IP:HOST:CTR")
	}
	var err error
	if port.HostPort, err = portNumber(parts[0]); err != nil {
		return port, err
	}
	if port.ContainerPort, err = portNumber(parts[1]); err != nil {
		return port, err
	}
	return port, nil
}

func portNumber(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", s)
	}
	return n, nil
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// runArgs puts "--" after the image name of `imgc run`, so that what
// follows it reaches the container as given, flags included, as with
// docker run: kong would otherwise read them as imgc's.
func runArgs(p *kong.Kong, args []string) []string {
	if len(args) == 0 || args[0] != "run" {
		return args
	}
	var node *kong.Node
	for _, n := range p.Model.Node.Children {
		if n.Name == "run" {
			node = n
		}
	}
	if node == nil {
		return args
	}
	takesValue := func(name string, short bool) bool {
		for _, f := range append(append([]*kong.Flag(nil), node.Flags...), p.Model.Node.Flags...) {
			if (!short && f.Name == name) || (short && string(f.Short) == name) {
				return !f.IsBool()
			}
		}
		return false
	}
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return args
		case strings.HasPrefix(a, "--"):
			if !strings.Contains(a, "=") && takesValue(a[2:], false) {
				i++
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			// A cluster of short flags (-it); one that takes a value takes
			// the rest of the cluster, or the next argument.
			for j := 1; j < len(a); j++ {
				if takesValue(a[j:j+1], true) {
					if j == len(a)-1 {
						i++
					}
					break
				}
			}
		default:
			out := append(append([]string(nil), args[:i+1]...), "--")
			return append(out, args[i+1:]...)
		}
	}
	return args
}
