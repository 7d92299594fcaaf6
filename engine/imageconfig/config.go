package imageconfig

import (
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/ir"
)

// MergeFile applies what a target sets over its base's config file: the
// config, as Merge does, and the author, which a target that sets none
// inherits, as Docker does.
func MergeFile(cf *v1.ConfigFile, ic ir.ImageConfig) {
	Merge(&cf.Config, ic)
	if ic.Author != "" {
		cf.Author = ic.Author
	}
}

// Merge applies what a target sets over its base's config, as
// Docker does.
func Merge(c *v1.Config, ic ir.ImageConfig) {
	if ic.Workdir != "" {
		c.WorkingDir = ExpandWorkdir(c.Env, ic.Workdir)
	}
	c.Env = MergeEnv(c.Env, ExpandEnv(c.Env, ic.Env))
	if ic.User != "" {
		c.User = ic.User
	}
	if ic.EntrypointSet {
		c.Entrypoint = ic.Entrypoint
		if !ic.CmdSet {
			c.Cmd = nil
		}
	}
	if ic.CmdSet {
		c.Cmd = ic.Cmd
	}
	if len(ic.Labels) > 0 {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for k, v := range ic.Labels {
			c.Labels[k] = v
		}
	}
	for _, p := range ic.ExposedPorts {
		if !strings.Contains(p, "/") {
			p += "/tcp"
		}
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		c.ExposedPorts[p] = struct{}{}
	}
	for _, v := range ic.Volumes {
		if c.Volumes == nil {
			c.Volumes = map[string]struct{}{}
		}
		c.Volumes[v] = struct{}{}
	}
	if ic.StopSignal != "" {
		c.StopSignal = ic.StopSignal
	}
	if hc := ic.Healthcheck; hc != nil {
		c.Healthcheck = &v1.HealthConfig{
			Test:        hc.Test,
			Interval:    parseDuration(hc.Interval),
			Timeout:     parseDuration(hc.Timeout),
			StartPeriod: parseDuration(hc.StartPeriod),
			Retries:     hc.Retries,
		}
	}
	if len(ic.Shell) > 0 {
		c.Shell = ic.Shell
	}
	// A base's ONBUILD triggers are consumed by the build on it (the
	// Dockerfile importer runs them); Docker never passes them on.
	c.OnBuild = ic.OnBuild
}

// StartInterval is the healthcheck start interval of an image after ic
// over a base whose start interval is base: a healthcheck ic sets
// replaces the base's whole, as Docker does. (ggcr's v1.HealthConfig has
// no field for it; see store.ImageState.)
func StartInterval(base time.Duration, ic ir.ImageConfig) time.Duration {
	if ic.Healthcheck == nil {
		return base
	}
	return parseDuration(ic.Healthcheck.StartInterval)
}

// parseDuration reads a duration the compiler already validated; an
// unparsable one means "inherit" (zero).
func parseDuration(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0
	}
	return d
}

// MergeEnv overlays "NAME=value" entries by name, keeping base's order and
// appending new names.
func MergeEnv(base, over []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range over {
		name, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, old := range out {
			if n, _, _ := strings.Cut(old, "="); n == name {
				out[i] = kv
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}
