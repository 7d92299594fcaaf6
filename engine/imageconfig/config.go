package imageconfig

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgc-dev/imgc/internal/configvalue"
	"github.com/imgc-dev/imgc/ir"
)

// MergeFile applies what a target sets over its base's config file: the
// config, as Merge does, and the author, which a target that sets none
// inherits, as Docker does.
func MergeFile(cf *v1.ConfigFile, ic ir.ImageConfig) error {
	if err := Merge(&cf.Config, ic); err != nil {
		return err
	}
	if ic.Author != "" {
		cf.Author = ic.Author
	}
	return nil
}

// Merge applies what a target sets over its base's config, as
// Docker does. References to the base image's environment in the
// workdir and env are expanded against it; those in the base-env labels,
// exposed ports, volumes and stop signal ($PORT, as a Dockerfile's EXPOSE
// $PORT reaches the IR when only the base image sets PORT; see
// ExpandVars) against the image's environment, the target's env merged
// over the base's (an .image.hcl's env = { PORT = "9090" } then expose =
// ["$PORT"] exposes 9090, as ENV then EXPOSE does). An exposed port or
// stop signal that is not one once expanded is an error.
func Merge(c *v1.Config, ic ir.ImageConfig) error {
	if ic.Workdir != "" {
		c.WorkingDir = ExpandWorkdir(c.Env, ic.Workdir)
	}
	c.Env = MergeEnv(c.Env, ExpandEnv(c.Env, ic.Env))
	x, err := expandWords(c.Env, ic)
	if err != nil {
		return err
	}
	ic = x
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
		// As Docker: a range is a port each (8000-8002 is three), 80 is 80/tcp.
		ports, err := configvalue.Ports(p)
		if err != nil {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			ports = []string{p}
		}
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range ports {
			c.ExposedPorts[p] = struct{}{}
		}
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
	return nil
}

// expandWords returns ic with the references to the environment env in
// its base-env labels, exposed ports, volumes and stop signal expanded; an exposed port becomes the ports it expands to
// (EXPOSE $PORTS with PORTS="80 443/udp", or a range), as Docker reads it.
func expandWords(env []string, ic ir.ImageConfig) (ir.ImageConfig, error) {
	var vars map[string]string
	expand := func(s string) string {
		if vars == nil {
			vars = envMap(env)
		}
		return ExpandVars(s, vars)
	}
	if hasDollar(ic.StopSignal) {
		sig := expand(ic.StopSignal)
		if !configvalue.Signal(sig) {
			return ic, fmt.Errorf("the stop signal %q is %q with the image's environment, which is not a signal: set the variable in the image's env (or write the value) to a signal name such as SIGTERM, or a number from 1 to 64", ic.StopSignal, sig)
		}
		ic.StopSignal = sig
	}
	if anyDollar(ic.ExposedPorts) {
		var ports []string
		for _, p := range ic.ExposedPorts {
			if !hasDollar(p) {
				ports = append(ports, p)
				continue
			}
			words := strings.Fields(expand(p))
			if len(words) == 0 {
				return ic, fmt.Errorf("the exposed port %q is empty with the image's environment: set the variable in the image's env, or remove the port", p)
			}
			for _, w := range words {
				ws, err := configvalue.Ports(w)
				if err != nil {
					return ic, fmt.Errorf("the exposed port %q is %q with the image's environment: %v; set the variable in the image's env (or write the value) to a port such as 8080 or 53/udp", p, w, err)
				}
				ports = append(ports, ws...)
			}
		}
		ic.ExposedPorts = ports
	}
	if anyDollar(ic.Volumes) {
		vols := make([]string, 0, len(ic.Volumes))
		for _, v := range ic.Volumes {
			e := expand(v)
			if e == "" {
				return ic, fmt.Errorf("the volume %q is empty with the image's environment: set the variable in the image's env, or remove the volume", v)
			}
			vols = append(vols, e)
		}
		ic.Volumes = vols
	}
	if len(ic.BaseEnvLabels) > 0 {
		labels := maps.Clone(ic.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		for k, v := range ic.BaseEnvLabels {
			labels[k] = expand(v)
		}
		ic.Labels, ic.BaseEnvLabels = labels, nil
	}
	return ic, nil
}

func hasDollar(s string) bool { return strings.Contains(s, "$") }

func anyDollar(list []string) bool { return slices.ContainsFunc(list, hasDollar) }

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
