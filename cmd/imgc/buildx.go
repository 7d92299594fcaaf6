package main

import (
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/ir"
)

// progressModes are the values of --progress.
var progressModes = []string{"auto", "tty", "plain", "json", "quiet"}

// progressMode settles --progress: -q is quiet; without the flag,
// $BUILDKIT_PROGRESS when it names a mode imgc has, as docker buildx reads
// it, else auto.
func (c *buildCmd) progressMode() hcl.Diagnostics {
	if c.Quiet {
		if c.Progress != "" && c.Progress != "quiet" {
			return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid --progress value",
				Detail: fmt.Sprintf("-q is --progress quiet, and --progress says %s. Give one of them.", c.Progress)}}
		}
		c.Progress = "quiet"
	}
	if c.Progress == "" {
		c.Progress = "auto"
		if v := os.Getenv("BUILDKIT_PROGRESS"); v != "" && slices.Contains(progressModes, v) {
			c.Progress = v
		}
		return nil
	}
	if slices.Contains(progressModes, c.Progress) {
		return nil
	}
	detail := fmt.Sprintf("--progress takes %s, not %q.", strings.Join(progressModes, ", "), c.Progress)
	if c.Progress == "rawjson" {
		detail += " imgc's own events are --progress json (docs/cli.md); BuildKit's raw status stream exists only inside BuildKit."
	}
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid --progress value", Detail: detail}}
}

// buildxFlags are docker buildx build flags imgc takes so that a CI line
// written for buildx runs, each saying what it does here, or refuses with
// what to do instead.
type buildxFlags struct {
	Provenance string   `hidden:"" help:"docker buildx's --provenance: imgc writes no attestations."`
	SBOM       string   `name:"sbom" hidden:"" help:"docker buildx's --sbom: imgc writes no attestations."`
	Attest     []string `sep:"none" hidden:"" help:"docker buildx's --attest: imgc writes no attestations."`
	Network    string   `hidden:"" help:"docker buildx's --network: refused with imgc's way."`
	AddHost    []string `name:"add-host" sep:"none" hidden:"" help:"docker buildx's --add-host: refused."`
	ShmSize    string   `name:"shm-size" hidden:"" help:"docker buildx's --shm-size: refused."`
	Ulimit     []string `sep:"none" hidden:"" help:"docker buildx's --ulimit: refused."`
	Call       string   `hidden:"" help:"docker buildx's --call: refused with imgc's way."`
	Check      bool     `hidden:"" help:"docker buildx's --check: refused with imgc's way."`
}

// check says what each buildx flag given does here.
func (f buildxFlags) check() hcl.Diagnostics {
	var diags hcl.Diagnostics
	refuse := func(flag, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported flag " + flag, Detail: detail})
	}
	attest := func(flag, v string) {
		if v == "" || v == "false" || v == "0" {
			return // none asked for: none is what imgc writes
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "No attestations",
			Detail: fmt.Sprintf("%s asks for an attestation, and imgc writes none (no SBOM, no provenance): the image is pushed without it. Drop the flag, or write --provenance=false --sbom=false to say so.", flag)})
	}
	attest("--provenance", f.Provenance)
	attest("--sbom", f.SBOM)
	for _, a := range f.Attest {
		attest("--attest", a)
	}
	if f.Network != "" && f.Network != "default" {
		refuse("--network", fmt.Sprintf("imgc sets the network of each run step, not of the build: RUN --network=%s in a Dockerfile, network = %q in a run block (with --allow network.host for host). Drop --network.", f.Network, f.Network))
	}
	if len(f.AddHost) > 0 {
		refuse("--add-host", "imgc's run steps see the host's /etc/hosts and no other entries. Drop --add-host, or write the entry in the step (echo '1.2.3.4 name' >> /etc/hosts).")
	}
	if f.ShmSize != "" {
		refuse("--shm-size", "imgc's run steps get Docker's default /dev/shm (64 MB). Drop --shm-size.")
	}
	if len(f.Ulimit) > 0 {
		refuse("--ulimit", "imgc's run steps get Docker's default limits (open files 1024). Drop --ulimit, or raise the limit in the step (ulimit -n).")
	}
	if f.Call != "" && f.Call != "build" || f.Check {
		refuse("--call/--check", "imgc checks a configuration with imgc validate (and a Dockerfile's conversion with imgc convert --check), and shows what would build with imgc plan.")
	}
	return diags
}

// keyValues reads KEY=VALUE flag values.
func keyValues(flag string, vals []string) (map[string]string, hcl.Diagnostics) {
	var out map[string]string
	var diags hcl.Diagnostics
	for _, v := range vals {
		k, val, _ := strings.Cut(v, "=") // KEY alone is an empty value, as docker takes it
		if k == "" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + flag + " value",
				Detail: fmt.Sprintf("%q has no key. Write %s KEY=VALUE, such as %s org.opencontainers.image.source=https://example.com/repo.", v, flag, flag)})
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = val
	}
	return out, diags
}

// addMetadata sets --label and --annotation values on every image plan
// outputs, over the configuration's own. Neither enters a key.
func addMetadata(p *ir.Plan, labels, annotations map[string]string) {
	if len(labels) == 0 && len(annotations) == 0 {
		return
	}
	for i, t := range p.Targets {
		if !t.Output {
			continue
		}
		c := *t
		if len(labels) > 0 {
			c.Config.Labels = maps.Clone(t.Config.Labels)
			if c.Config.Labels == nil {
				c.Config.Labels = map[string]string{}
			}
			maps.Copy(c.Config.Labels, labels)
		}
		if len(annotations) > 0 {
			c.Annotations = maps.Clone(t.Annotations)
			if c.Annotations == nil {
				c.Annotations = map[string]string{}
			}
			maps.Copy(c.Annotations, annotations)
		}
		p.Targets[i] = &c
	}
}

// annotationType is buildx's [TYPE[,TYPE...][PLATFORM]:] before an
// annotation's key.
var annotationType = regexp.MustCompile(`^((?:manifest|index|manifest-descriptor|index-descriptor)(?:,(?:manifest|index|manifest-descriptor|index-descriptor))*)(\[[^\]]*\])?:`)

// annotationTypes reads buildx's annotation types in anns' keys, in place:
// manifest: (the default) is dropped; the others, which imgc does not
// write, are errors saying so.
func annotationTypes(anns map[string]string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for k, v := range anns {
		m := annotationType.FindStringSubmatch(k)
		if m == nil {
			continue
		}
		delete(anns, k)
		if m[1] == "manifest" && m[2] == "" {
			anns[k[len(m[0]):]] = v
			continue
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported --annotation type",
			Detail: fmt.Sprintf("--annotation %s: imgc writes annotations on every output image's manifest, for all its platforms, not on indexes, descriptors or one platform's manifest. Write --annotation %s=VALUE (or manifest:%s=VALUE).", k, k[len(m[0]):], k[len(m[0]):])})
	}
	return diags
}
