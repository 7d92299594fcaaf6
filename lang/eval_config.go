package lang

import (
	"strings"

	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/imgc-dev/imgc/model"
)

// configDecl is a decoded `config` block: its raw attributes and its
// healthcheck blocks.
type configDecl struct {
	Attrs        hcl.Attributes
	Healthchecks hcl.Blocks
	DefRange     hcl.Range
}

func decodeConfigBlock(b *hcl.Block) (*configDecl, hcl.Diagnostics) {
	content, diags := b.Body.Content(configSchema)
	return &configDecl{Attrs: content.Attributes, Healthchecks: content.Blocks, DefRange: b.DefRange}, diags
}

// decodeHealthcheckBlock decodes a `healthcheck` block, which holds
// attributes only.
func decodeHealthcheckBlock(b *hcl.Block) (hcl.Attributes, hcl.Diagnostics) {
	content, diags := b.Body.Content(healthcheckSchema)
	return content.Attributes, diags
}

func (e *evaluator) config(b *hcl.Block) *model.ImageConfig {
	d, diags := decodeConfigBlock(b)
	e.l.addEval(diags)
	attrs := d.Attrs
	c := &model.ImageConfig{Range: e.l.blockRange(d.DefRange)}
	if _, ok := attrs["entrypoint"]; ok {
		c.Entrypoint, c.EntrypointSet = e.strs(attrs, "entrypoint", false)
		if c.Entrypoint == nil && c.EntrypointSet {
			c.Entrypoint = []string{}
		}
	}
	if _, ok := attrs["cmd"]; ok {
		c.Cmd, c.CmdSet = e.strs(attrs, "cmd", false)
		if c.Cmd == nil && c.CmdSet {
			c.Cmd = []string{}
		}
	}
	c.Env = e.env(attrs, "env")
	c.User = e.user(attrs)
	c.Workdir, _ = e.str(attrs, "workdir")
	c.Labels, _ = e.strMap(attrs, "labels")
	if ports, ok := e.strs(attrs, "expose", false); ok {
		for i, p := range ports {
			// A port that names a variable of the base image
			// ($PORT) is checked once the engine has expanded it.
			if err := model.ValidatePort(p); err != nil && !strings.Contains(p, "$") {
				e.l.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid port",
					Detail:   model.Sentence(err.Error()),
					Subject:  elementRange(attrs["expose"], i).Ptr(),
				})
				continue
			}
			c.Expose = append(c.Expose, p)
		}
	}
	c.Volumes, _ = e.strs(attrs, "volumes", false)
	if sig, ok := e.str(attrs, "stop_signal"); ok {
		if err := model.ValidateStopSignal(sig); err != nil && !strings.Contains(sig, "$") {
			e.invalid(attrs["stop_signal"], "Invalid stop signal", model.Sentence(err.Error()))
		} else {
			c.StopSignal = sig
		}
	}
	c.OnBuild, _ = e.strs(attrs, "onbuild", false)
	c.Shell = e.shell(attrs, "shell")
	c.Author, _ = e.str(attrs, "author")
	for i, hb := range d.Healthchecks {
		if i > 0 {
			e.l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate healthcheck block",
				Detail:   "An image has one health check. Remove the extra healthcheck block.",
				Subject:  hb.DefRange.Ptr(),
			})
			continue
		}
		c.Healthcheck = e.healthcheck(hb)
	}
	return c
}

func (e *evaluator) healthcheck(b *hcl.Block) *model.Healthcheck {
	attrs, diags := decodeHealthcheckBlock(b)
	e.l.addEval(diags)
	h := &model.Healthcheck{}
	if attr, ok := attrs["test"]; ok {
		if val, ok := e.value(attr); ok {
			if val.Type() == cty.String {
				h.Test = []string{"CMD-SHELL", val.AsString()}
			} else if list, ok := e.convert(val, cty.List(cty.String), attr); ok {
				h.Test = stringsOf(list)
				if len(h.Test) == 0 || !contains([]string{"NONE", "CMD", "CMD-SHELL"}, h.Test[0]) {
					e.invalid(attr, "Invalid health check test",
						"A test list starts with CMD (an argument vector follows), CMD-SHELL (a shell command follows) or NONE (disables the base image's check). Or give a string, which runs in the shell.")
					h.Test = nil
				}
			}
		}
	}
	for _, d := range []struct {
		name string
		dst  *string
	}{{"interval", &h.Interval}, {"timeout", &h.Timeout}, {"start_period", &h.StartPeriod}, {"start_interval", &h.StartInterval}} {
		if s, ok := e.str(attrs, d.name); ok {
			if dur, err := time.ParseDuration(s); err != nil || dur < 0 {
				e.invalid(attrs[d.name], "Invalid duration", fmt.Sprintf("%q is not a duration. Write it like 30s, 1m30s or 500ms.", s))
				continue
			}
			*d.dst = s
		}
	}
	if n, ok := e.integer(attrs, "retries"); ok {
		if n < 0 {
			e.invalid(attrs["retries"], "Invalid retries", "The number of retries must not be negative.")
		} else {
			h.Retries = int(n)
		}
	}
	return h
}
