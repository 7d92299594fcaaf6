package local

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/imgc-dev/imgc/engine/imageconfig"
	"github.com/imgc-dev/imgc/engine/local/runc"
	"github.com/imgc-dev/imgc/internal/overlay"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// RunOptions says how to run a stored image.
type RunOptions struct {
	// Args replace the image's Cmd when set, as `docker run IMAGE ARGS` does.
	Args []string
	// Entrypoint replaces the image's entrypoint when not nil (empty: none),
	// as `docker run --entrypoint` does; the image's Cmd is then dropped.
	Entrypoint []string
	// Env is added over the image's env ("NAME=value").
	Env []string
	// Network is "default" (a private network with outbound access, see
	// runc.Network), "host" (the host's) or "none" (loopback only).
	Network string
	// Workdir replaces the image's working directory when set.
	Workdir string
	// User replaces the image's user when set ("name|uid[:group|gid]").
	User string
	// Binds are host paths bound into the container.
	Binds []Bind
	// Ports are published on the host (Network "default" only).
	Ports []runc.Port
	// Name names the container (runc's id and its host name); "" makes one.
	Name string
	// Stdin is the container's standard input; Terminal gives it a
	// pseudo-terminal on imgc's own (which must then be one).
	Stdin          io.Reader
	Terminal       bool
	Stdout, Stderr io.Writer
	// Platform picks the image of a multi-platform image (an index); zero
	// means the host's.
	Platform ir.Platform
}

// Bind is a host path bound into a container, as docker run -v HOST:CTR[:ro].
type Bind struct {
	Source, Target string
	ReadOnly       bool
}

// imageLowers reads the stored image called name and unpacks its layers,
// returning its config and the overlay lower dirs that show its files.
// An image of another architecture than the host's, run without a
// platform asked for, is named on warn: it runs under QEMU.
func (e *Engine) imageLowers(ctx context.Context, name string, pl ir.Platform, warn io.Writer) (*v1.ConfigFile, []string, error) {
	s := e.s
	d, err := s.LookupImageFor(name, pl)
	if err != nil {
		return nil, nil, err
	}
	img, err := s.Image(d.Digest)
	if err != nil {
		return nil, nil, fmt.Errorf("reading image %s: %w", name, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, nil, fmt.Errorf("reading image %s: %w", name, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, nil, fmt.Errorf("reading image %s: %w", name, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, nil, fmt.Errorf("reading image %s: %d layers but %d diff ids", name, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	if cfg.Architecture != "" {
		if err := checkEmulation(ir.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}); err != nil {
			return nil, nil, fmt.Errorf("running %s: %w", name, err)
		}
		if pl.OS == "" && !native(cfg.Architecture) && warn != nil {
			fmt.Fprintf(warn, "imgc: warning: the image is %s/%s and this machine %s/%s, so it runs under QEMU emulation; give --platform to say which you want\n",
				cfg.OS, cfg.Architecture, runtime.GOOS, runtime.GOARCH)
		}
	}
	chain := make([]store.Layer, len(m.Layers))
	for i, l := range m.Layers {
		chain[i] = store.Layer{Digest: l.Digest, DiffID: cfg.RootFS.DiffIDs[i], Size: l.Size, MediaType: l.MediaType}
	}
	lowers, err := s.Snapshots(ctx, chain)
	if err != nil {
		return nil, nil, fmt.Errorf("unpacking image %s: %w", name, err)
	}
	if len(lowers) == 0 {
		lowers = []string{overlay.EmptyDir}
		if err := os.MkdirAll(overlay.EmptyDir, 0o755); err != nil {
			return nil, nil, err
		}
	}
	return cfg, lowers, nil
}

// RunImage runs the stored image called name once with runc, like
// `docker run --rm`: over a throw-away overlay of its layers, with its
// entrypoint, cmd, env, working directory and user. It returns the process's
// exit status. Nothing the container writes is kept.
func (e *Engine) RunImage(ctx context.Context, name string, o RunOptions) (int, error) {
	s := e.s
	cfg, lowers, err := e.imageLowers(ctx, name, o.Platform, o.Stderr)
	if err != nil {
		return 0, err
	}
	tmp, err := s.TempDir("run-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	rootfs, upper, work := filepath.Join(tmp, "rootfs"), filepath.Join(tmp, "upper"), filepath.Join(tmp, "work")
	for _, dir := range []string{rootfs, upper, work} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			return 0, err
		}
	}
	// Volatile: what the container writes is thrown away, so its unmount
	// need not sync the filesystem.
	if err := overlay.MountVolatile(rootfs, lowers, upper, work); err != nil {
		return 0, fmt.Errorf("mounting image %s: %w", name, err)
	}
	defer overlay.Unmount(rootfs)

	c := cfg.Config
	args := append([]string(nil), c.Entrypoint...)
	cmd := c.Cmd
	if o.Entrypoint != nil {
		args, cmd = append([]string(nil), o.Entrypoint...), nil
	}
	if len(o.Args) > 0 {
		args = append(args, o.Args...)
	} else {
		args = append(args, cmd...)
	}
	if len(args) == 0 {
		return 0, fmt.Errorf("running image %s: it has no entrypoint or cmd; give the command to run as arguments", name)
	}
	cwd := c.WorkingDir
	if o.Workdir != "" {
		cwd = o.Workdir
	}
	if cwd == "" {
		cwd = "/"
	}
	network := o.Network
	if network == "" {
		network = "default"
	}
	if len(o.Ports) > 0 && network != "default" {
		return 0, fmt.Errorf("running image %s: ports are published only on the default network, and this run uses %q", name, network)
	}
	usr := c.User
	if o.User != "" {
		usr = o.User
	}
	var mounts []specs.Mount
	for _, b := range o.Binds {
		opts := []string{"rbind", "rprivate"}
		if b.ReadOnly {
			opts = append(opts, "ro")
		}
		mounts = append(mounts, specs.Mount{Type: "bind", Source: b.Source, Destination: b.Target, Options: opts})
	}
	id, hostname := "imgc-run-"+randomID(), ""
	if o.Name != "" {
		id, hostname = o.Name, o.Name
	}
	stdout, stderr := o.Stdout, o.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	for _, w := range runc.Warnings() {
		fmt.Fprintf(stderr, "imgc: warning: %s\n", w)
	}
	return runc.Run(ctx, "", runc.Spec{
		ID:       id,
		Hostname: hostname,
		Rootfs:   rootfs,
		Args:     args,
		Env:      imageconfig.MergeEnv(c.Env, o.Env),
		Cwd:      cwd,
		User:     usr,
		Network:  network,
		Mounts:   mounts,
		Ports:    o.Ports,
		Stdin:    o.Stdin,
		Terminal: o.Terminal,
	}, stdout, stderr)
}
