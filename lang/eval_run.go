package lang

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/imgc-dev/imgc/model"
)

// runDecl is a decoded `run` block: its raw attributes and mounts.
type runDecl struct {
	Attrs    hcl.Attributes
	Mounts   []*mountDecl
	Devices  []*hcl.Block
	Body     hcl.Body
	DefRange hcl.Range
}

// mountDecl is a decoded `mount "TYPE"` block. Attrs holds only the
// arguments its type takes; Known is false for an unknown type, whose
// arguments are not decoded.
type mountDecl struct {
	Type  string
	Known bool
	// Diags are the mount's decoding errors, reported when it is
	// evaluated, in document order with the run step's other errors.
	Diags     hcl.Diagnostics
	Attrs     hcl.Attributes
	TypeRange hcl.Range
	DefRange  hcl.Range
}

func decodeRunBlock(b *hcl.Block) (*runDecl, hcl.Diagnostics) {
	content, diags := b.Body.Content(runSchema)
	d := &runDecl{Attrs: content.Attributes, Body: b.Body, DefRange: b.DefRange}
	for _, mb := range content.Blocks {
		if mb.Type == "device" {
			d.Devices = append(d.Devices, mb)
			continue
		}
		m, mdiags := decodeMountBlock(mb)
		m.Diags = mdiags
		d.Mounts = append(d.Mounts, m)
	}
	return d, diags
}

func decodeMountBlock(b *hcl.Block) (*mountDecl, hcl.Diagnostics) {
	d := &mountDecl{Type: b.Labels[0], TypeRange: b.LabelRanges[0], DefRange: b.DefRange}
	allowed, known := mountArguments[d.Type]
	if !known {
		return d, hcl.Diagnostics{model.CheckMountType(d.Type, d.TypeRange)}
	}
	d.Known = true
	content, diags := b.Body.Content(mountSchema)
	d.Attrs = content.Attributes
	for _, name := range sortedKeys(d.Attrs) {
		if !contains(allowed, name) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unsupported mount argument",
				Detail: fmt.Sprintf("A %s mount does not take `%s`; it takes %s. Remove the argument.",
					d.Type, name, strings.Join(allowed, ", ")),
				Subject: d.Attrs[name].NameRange.Ptr(),
			})
			delete(d.Attrs, name)
		}
	}
	return d, diags
}

func (e *evaluator) run(b *hcl.Block) *model.Run {
	d, diags := decodeRunBlock(b)
	e.l.addEval(diags)
	attrs := d.Attrs
	r := &model.Run{}
	e.command(d, r)
	r.Env = e.env(attrs, "env")
	r.Workdir, _ = e.str(attrs, "workdir")
	r.User = e.user(attrs)
	r.Shell = e.shell(attrs, "shell")
	if n, ok := e.str(attrs, "network"); ok {
		rng := attrs["network"].Expr.Range()
		if d := model.CheckNetwork(n, rng); d != nil {
			e.l.add(d)
		} else {
			r.Network, r.NetworkRange = n, rng
		}
	}
	if s, ok := e.str(attrs, "security"); ok && e.oneOf(attrs["security"], s, "security mode", "sandbox", "insecure") {
		r.SecurityRange = attrs["security"].Expr.Range()
		if s == "insecure" {
			r.Security = s
		}
	}
	for _, b := range d.Devices {
		r.Devices = append(r.Devices, e.device(b))
	}
	r.NoCache = !e.boolean(attrs, "cache", true)
	r.CacheKey, _ = e.str(attrs, "cache_key")
	r.Reads = e.absPaths(attrs, "reads")
	r.Writes = e.absPaths(attrs, "writes")
	for _, md := range d.Mounts {
		if m, ok := e.mount(md); ok {
			r.Mounts = append(r.Mounts, m)
		}
	}
	return r
}

// device evaluates a `device "NAME"` block.
func (e *evaluator) device(b *hcl.Block) model.Device {
	content, diags := b.Body.Content(deviceSchema)
	e.l.addEval(diags)
	return model.Device{
		Name:      b.Labels[0],
		Required:  e.boolean(content.Attributes, "required", false),
		NameRange: b.LabelRanges[0],
		Range:     e.l.blockRange(b.DefRange),
	}
}

// command evaluates sh, exec or script into r.Command.
func (e *evaluator) command(d *runDecl, r *model.Run) {
	shAttr, hasSh := d.Attrs["sh"]
	execAttr, hasExec := d.Attrs["exec"]
	scriptAttr, hasScript := d.Attrs["script"]
	if name, ok := d.Attrs["script_name"]; ok && !hasScript {
		e.invalid(name, "Script name without script", "script_name names the file a script runs as. Remove it, or give the script.")
	}
	switch {
	case hasSh && hasExec, hasScript && (hasSh || hasExec):
		second := execAttr
		if hasScript {
			second = scriptAttr
		}
		e.l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Conflicting command forms",
			Detail:   "A run step takes one of sh (a shell command), exec (an argument vector) and script (a program with a #! line). Remove the others.",
			Subject:  second.NameRange.Ptr(),
		})
	case hasScript:
		r.CommandRange = scriptAttr.Expr.Range()
		e.unknownCommand = e.unknown(scriptAttr)
		if text, ok := e.str(d.Attrs, "script"); ok {
			name := "EOF"
			if n, ok := e.str(d.Attrs, "script_name"); ok {
				name = n
			}
			r.Command = &model.Script{Name: name, Text: text}
		}
	case !hasSh && !hasExec && misspelt(d.Body, runSchema, "sh", "exec"):
		// "Unsupported argument" already says which was meant.
	case !hasSh && !hasExec:
		e.l.add(model.MissingCommand(d.DefRange))
	case hasSh:
		r.CommandRange = shAttr.Expr.Range()
		e.unknownCommand = e.unknown(shAttr)
		if val, ok := e.value(shAttr); ok {
			if val.Type() == cty.String {
				r.Command = &model.Sh{Script: val.AsString()}
			} else if list, ok := e.convert(val, cty.List(cty.String), shAttr); ok {
				r.Command = &model.Sh{Script: strings.Join(stringsOf(list), " && ")}
			}
		}
	case hasExec:
		r.CommandRange = execAttr.Expr.Range()
		e.unknownCommand = e.unknown(execAttr)
		if val, ok := e.value(execAttr); ok {
			if list, ok := e.convert(val, cty.List(cty.String), execAttr); ok {
				r.Command = &model.Exec{Argv: stringsOf(list)}
			}
		}
	}
}

func (e *evaluator) mount(d *mountDecl) (model.Mount, bool) {
	m := model.Mount{Type: d.Type, TypeRange: d.TypeRange, DeclRange: d.DefRange, Range: e.l.blockRange(d.DefRange)}
	e.l.addEval(d.Diags)
	if !d.Known {
		return m, false // reported by decodeMountBlock
	}
	attrs := d.Attrs
	m.Target, _ = e.str(attrs, "target")
	m.ID, _ = e.str(attrs, "id")
	m.Source, _ = e.str(attrs, "source")
	if env, ok := e.str(attrs, "env"); ok && e.envName(attrs["env"], env) {
		m.Env = env
	}
	if s, ok := e.str(attrs, "sharing"); ok && e.oneOf(attrs["sharing"], s, "sharing mode", "shared", "private", "locked") {
		m.Sharing = s
	}
	if attr, ok := attrs["from"]; ok {
		m.FromRange = attr.Expr.Range()
		if ref, ok := e.reference(attr, false); ok {
			m.From = ref
		}
	}
	m.ReadOnly = e.boolean(attrs, "readonly", d.Type == "bind")
	m.Required = e.boolean(attrs, "required", false)
	e.mountOwnership(attrs, &m)
	if attr, ok := attrs["size"]; ok {
		if val, ok := e.value(attr); ok {
			size, err := parseSize(val)
			if err != nil {
				e.invalid(attr, "Invalid size", model.Sentence(err.Error()))
			}
			m.Size = size
		}
	}
	if !e.mountDefaults(d, &m) {
		return m, false
	}
	if _, given := attrs["target"]; !given && m.Target == "" && d.Type != "secret" && d.Type != "ssh" {
		e.l.add(model.MissingMountTarget(d.Type, d.DefRange))
	}
	return m, true
}

// mountOwnership evaluates a mount's mode, uid and gid.
func (e *evaluator) mountOwnership(attrs hcl.Attributes, m *model.Mount) {
	if attr, ok := attrs["mode"]; ok {
		if s, ok := e.str(attrs, "mode"); ok {
			mode, err := strconv.ParseUint(s, 8, 32)
			if err != nil || mode > 0o7777 {
				e.invalid(attr, "Invalid file mode", fmt.Sprintf("%q is not an octal file mode. Write it as a string such as \"0600\".", s))
			} else {
				m32 := uint32(mode)
				m.Mode = &m32
			}
		}
	}
	for _, id := range []struct {
		name string
		dst  **int
	}{{"uid", &m.UID}, {"gid", &m.GID}} {
		if n, ok := e.integer(attrs, id.name); ok {
			if n < 0 || n > model.MaxID {
				e.invalid(attrs[id.name], "Invalid "+id.name, fmt.Sprintf("`%s` must be from 0 to %d. Give an id in that range.", id.name, model.MaxID))
				continue
			}
			v := int(n)
			*id.dst = &v
		}
	}
}

// mountDefaults applies BuildKit's defaults: a cache's id is its target
// and it is shared; a secret's id is its target's base name and its target
// /run/secrets/ID. It reports a secret with neither id nor target.
func (e *evaluator) mountDefaults(d *mountDecl, m *model.Mount) bool {
	switch d.Type {
	case "cache":
		if m.ID == "" {
			m.ID = m.Target
		}
		if m.Sharing == "" {
			m.Sharing = "shared"
		}
	case "ssh":
		// BuildKit's default agent; the compiler picks the target.
		if m.ID == "" {
			m.ID = "default"
		}
	case "secret":
		switch {
		case m.ID == "" && m.Target == "":
			e.l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing secret id",
				Detail:   "A secret mount needs the id of a secret given with --secret id=ID,src=FILE. Add id = \"...\".",
				Subject:  d.DefRange.Ptr(),
			})
			return false
		case m.ID == "":
			m.ID = path.Base(m.Target)
		case m.Target == "" && m.Env == "":
			// BuildKit's default; with env alone the secret is no file.
			m.Target = "/run/secrets/" + m.ID
		}
	}
	return true
}
