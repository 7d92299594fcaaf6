package lang

import (
	"fmt"
	"math/big"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/imgc-dev/imgc/stdlib"
)

var stageAttributes = []hcl.AttributeSchema{
	{Name: "from", Required: true},
	{Name: "platform"},
	{Name: "tags"},
	{Name: "annotations"},
	{Name: "env"},
	{Name: "workdir"},
	{Name: "user"},
	{Name: "shell"},
	{Name: "optimize"},
}

var runSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "sh"}, {Name: "exec"}, {Name: "env"}, {Name: "workdir"}, {Name: "user"},
		{Name: "shell"}, {Name: "network"}, {Name: "cache"}, {Name: "cache_key"},
		{Name: "reads"}, {Name: "writes"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "mount", LabelNames: []string{"type"}}},
}

var mountSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "target"}, {Name: "id"}, {Name: "sharing"}, {Name: "source"}, {Name: "from"},
		{Name: "readonly"}, {Name: "required"}, {Name: "mode"}, {Name: "uid"}, {Name: "gid"},
		{Name: "size"}, {Name: "env"},
	},
}

// mountArguments are the arguments each mount type takes.
var mountArguments = map[string][]string{
	"bind":   {"target", "source", "from", "readonly"},
	"cache":  {"target", "id", "sharing", "source", "from", "readonly", "mode", "uid", "gid"},
	"secret": {"target", "id", "env", "required", "mode", "uid", "gid"},
	"tmpfs":  {"target", "size"},
}

var copySchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "src", Required: true}, {Name: "dest", Required: true}, {Name: "from"},
		{Name: "exclude"}, {Name: "chown"}, {Name: "chmod"}, {Name: "link"}, {Name: "parents"},
	},
}

var addSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "src"}, {Name: "url"}, {Name: "checksum"}, {Name: "dest", Required: true},
		{Name: "extract"}, {Name: "chown"}, {Name: "chmod"}, {Name: "link"}, {Name: "exclude"},
	},
}

var configSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "entrypoint"}, {Name: "cmd"}, {Name: "env"}, {Name: "user"}, {Name: "workdir"},
		{Name: "labels"}, {Name: "expose"}, {Name: "volumes"}, {Name: "stop_signal"},
		{Name: "onbuild"}, {Name: "shell"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "healthcheck"}},
}

var healthcheckSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "test", Required: true}, {Name: "interval"}, {Name: "timeout"},
		{Name: "start_period"}, {Name: "start_interval"}, {Name: "retries"},
	},
}

var (
	platformPattern = regexp.MustCompile(`^[a-z0-9_]+/[a-z0-9_]+(/[a-z0-9_.]+)?$`)
	chmodPattern    = regexp.MustCompile(`^[0-7]{3,4}$`)
	chownPattern    = regexp.MustCompile(`^[^:\s]+(:[^:\s]+)?$`)
	checksumPattern = regexp.MustCompile(`^(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$`)
	quotedRef       = regexp.MustCompile(`^(stage|image)\.[A-Za-z_][A-Za-z0-9_-]*$`)
)

// stepBlocks are the block types that make steps; layer bodies hold the
// same minus layer itself.
func (l *loader) stepBlocks(withLayer bool) []hcl.BlockHeaderSchema {
	blocks := []hcl.BlockHeaderSchema{{Type: "run"}, {Type: "copy"}, {Type: "add"}}
	if withLayer {
		blocks = append(blocks, hcl.BlockHeaderSchema{Type: "layer", LabelNames: []string{"name"}})
	}
	for _, name := range sortedKeys(l.macros) {
		blocks = append(blocks, hcl.BlockHeaderSchema{Type: name})
	}
	return blocks
}

// evaluateStage evaluates one stage or image block. Steps keep document
// order across kinds, dynamic blocks expanded in place.
func (l *loader) evaluateStage(mod *module, decl *stageDecl) *Stage {
	ctx := l.evalContext(mod)
	st := &Stage{
		Kind:      decl.Kind,
		Name:      decl.Name,
		DeclRange: decl.DeclRange,
		Range:     l.blockRange(decl.DeclRange),
	}
	schema := &hcl.BodySchema{
		Attributes: stageAttributes,
		Blocks:     append(l.stepBlocks(true), hcl.BlockHeaderSchema{Type: "config"}),
	}
	content, diags := dynblock.Expand(decl.Body, ctx).Content(schema)
	l.addEval(diags)
	e := &evaluator{l: l, ctx: ctx}

	if attr, ok := content.Attributes["from"]; ok {
		st.From.Range = attr.Expr.Range()
		if from, ok := e.reference(attr, true); ok {
			st.From.Scratch, st.From.Ref, st.From.Stage = from.scratch, from.ref, from.stage
		} else {
			st.From.Reported = true
		}
	} else {
		st.From.Reported = true // HCL reported the missing argument
	}
	if p, ok := e.str(content.Attributes, "platform"); ok {
		if err := ValidatePlatform(p); err != nil {
			e.invalid(content.Attributes["platform"], "Invalid platform", sentence(err.Error()))
		} else {
			st.Platform, st.PlatformRange = p, content.Attributes["platform"].Expr.Range()
		}
	}
	for _, imageOnly := range []string{"tags", "annotations"} {
		if attr, ok := content.Attributes[imageOnly]; ok && decl.Kind == KindStage {
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Image attribute on a stage",
				Detail: fmt.Sprintf("Only images are exported, so only an image block takes `%s`. Change stage %q to an image block, or remove `%s`.",
					imageOnly, decl.Name, imageOnly),
				Subject: attr.NameRange.Ptr(),
			})
			delete(content.Attributes, imageOnly)
		}
	}
	if tags, ok := e.strs(content.Attributes, "tags", false); ok {
		for _, t := range tags {
			if _, err := name.NewTag(t); err != nil {
				e.invalid(content.Attributes["tags"], "Invalid image tag",
					fmt.Sprintf("%q is not a tag reference: %s. Write [REGISTRY/]REPOSITORY[:TAG].", t, err))
				continue
			}
			st.Tags = append(st.Tags, t)
		}
	}
	st.Annotations, _ = e.strMap(content.Attributes, "annotations")
	st.Env = e.env(content.Attributes, "env")
	st.Workdir, _ = e.str(content.Attributes, "workdir")
	st.User = e.user(content.Attributes)
	st.Shell = e.shell(content.Attributes, "shell")
	if o, ok := e.str(content.Attributes, "optimize"); ok {
		if e.oneOf(content.Attributes["optimize"], o, "optimization level", "safe", "all") {
			st.Optimize = o
		}
	}

	inherited := decl.defaultVars
	layerNames := map[string]hcl.Range{}
	for _, b := range content.Blocks {
		switch b.Type {
		case "config":
			if st.Config != nil {
				l.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate config block",
					Detail: fmt.Sprintf("%s takes one config block and one was already given at %s. Merge the two.",
						capitalize(article(string(decl.Kind))), shortRange(st.Config.Range)),
					Subject: b.DefRange.Ptr(),
				})
				continue
			}
			st.Config = e.config(b)
		case "layer":
			ly := &Layer{Name: b.Labels[0], Range: l.blockRange(b.DefRange)}
			if prev, dup := layerNames[ly.Name]; dup {
				l.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate layer name",
					Detail: fmt.Sprintf("A layer named %q was already declared at %s in this %s. Rename one of them.",
						ly.Name, shortRange(prev), decl.Kind),
					Subject: b.LabelRanges[0].Ptr(),
				})
			} else {
				layerNames[ly.Name] = b.DefRange
			}
			inner, diags := b.Body.Content(&hcl.BodySchema{Blocks: l.stepBlocks(false)})
			l.addEval(diags)
			for _, ib := range inner.Blocks {
				ly.Steps = append(ly.Steps, e.step(ib, inherited)...)
			}
			st.Steps = append(st.Steps, ly)
		default:
			st.Steps = append(st.Steps, e.step(b, inherited)...)
		}
	}
	return st
}

// evaluator evaluates the blocks of one stage.
type evaluator struct {
	l   *loader
	ctx *hcl.EvalContext
}

// step evaluates a step block. A step with an error is left out: the
// partial Config that Load returns with errors then holds only steps that
// are sound, so compiling it reports new problems (such as missing copy
// sources), never the same ones again.
func (e *evaluator) step(b *hcl.Block, inherited map[string]bool) []Step {
	before := e.l.errors
	steps := e.evalStep(b, inherited)
	if e.l.errors > before {
		return nil
	}
	return steps
}

func (e *evaluator) evalStep(b *hcl.Block, inherited map[string]bool) []Step {
	rng := e.l.blockRange(b.DefRange)
	vars := e.stepVars(b.DefRange, inherited)
	switch b.Type {
	case "run":
		if r := e.run(b); r != nil {
			r.Range, r.Vars = rng, vars
			return []Step{r}
		}
	case "copy":
		if c := e.copyStep(b); c != nil {
			c.Range, c.Vars = rng, vars
			return []Step{c}
		}
	case "add":
		if a := e.add(b); a != nil {
			a.Range, a.Vars = rng, vars
			return []Step{a}
		}
	default:
		if m, ok := e.l.macros[b.Type]; ok {
			return e.macro(b, m, rng, vars)
		}
	}
	return nil
}

// stepVars are the variables a step's block refers to (through locals
// too), plus those its stage's defaults refer to.
func (e *evaluator) stepVars(def hcl.Range, inherited map[string]bool) []string {
	set := map[string]bool{}
	for v := range inherited {
		set[v] = true
	}
	if sb := e.l.syntax.block(def); sb != nil {
		e.l.varsOf(referencesIn(traversalsIn(sb.Body)), set)
	}
	if len(set) == 0 {
		return nil
	}
	return sortedKeys(set)
}

func (e *evaluator) run(b *hcl.Block) *Run {
	content, diags := b.Body.Content(runSchema)
	e.l.addEval(diags)
	attrs := content.Attributes
	r := &Run{}
	shAttr, hasSh := attrs["sh"]
	execAttr, hasExec := attrs["exec"]
	switch {
	case hasSh && hasExec:
		e.l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Conflicting command forms",
			Detail:   "A run step takes either sh (a shell command) or exec (an argument vector), not both. Remove one of them.",
			Subject:  execAttr.NameRange.Ptr(),
		})
	case !hasSh && !hasExec && misspelt(b.Body, runSchema, "sh", "exec"):
		// "Unsupported argument" already says which was meant.
	case !hasSh && !hasExec:
		e.l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing command",
			Detail:   "A run step needs a command. Add sh = \"...\" for a shell command, or exec = [...] for an argument vector.",
			Subject:  b.DefRange.Ptr(),
		})
	case hasSh:
		if val, ok := e.value(shAttr); ok {
			converted := true
			if val.Type() == cty.String {
				r.Sh = val.AsString()
			} else if list, ok := e.convert(val, cty.List(cty.String), shAttr); ok {
				r.Sh = strings.Join(stringsOf(list), " && ")
			} else {
				converted = false
			}
			if converted && strings.TrimSpace(r.Sh) == "" {
				e.invalid(shAttr, "Empty command", "The sh command is empty. Give the command to run.")
			}
		}
	case hasExec:
		r.IsExec = true
		if val, ok := e.value(execAttr); ok {
			if list, ok := e.convert(val, cty.List(cty.String), execAttr); ok {
				r.Exec = stringsOf(list)
				if len(r.Exec) == 0 {
					e.invalid(execAttr, "Empty command", "The exec vector is empty. Give the program to run and its arguments.")
				}
			}
		}
	}
	r.Env = e.env(attrs, "env")
	r.Workdir, _ = e.str(attrs, "workdir")
	r.User = e.user(attrs)
	r.Shell = e.shell(attrs, "shell")
	if n, ok := e.str(attrs, "network"); ok && e.oneOf(attrs["network"], n, "network mode", "default", "none", "host") {
		r.Network = n
	}
	r.NoCache = !e.boolean(attrs, "cache", true)
	r.CacheKey, _ = e.str(attrs, "cache_key")
	r.Reads = e.absPaths(attrs, "reads")
	r.Writes = e.absPaths(attrs, "writes")
	for _, mb := range content.Blocks {
		if m, ok := e.mount(mb); ok {
			r.Mounts = append(r.Mounts, m)
		}
	}
	return r
}

func (e *evaluator) mount(b *hcl.Block) (Mount, bool) {
	typ := b.Labels[0]
	m := Mount{Type: typ, Range: e.l.blockRange(b.DefRange)}
	allowed, known := mountArguments[typ]
	if !known {
		e.l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported mount type",
			Detail: fmt.Sprintf("%q is not a mount type.%s Use one of bind, cache, secret or tmpfs.",
				typ, suggestion(typ, sortedKeys(mountArguments), "")),
			Subject: b.LabelRanges[0].Ptr(),
		})
		return m, false
	}
	content, diags := b.Body.Content(mountSchema)
	e.l.addEval(diags)
	attrs := content.Attributes
	for _, attrName := range sortedKeys(attrs) {
		if !contains(allowed, attrName) {
			e.l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unsupported mount argument",
				Detail: fmt.Sprintf("A %s mount does not take `%s`; it takes %s. Remove the argument.",
					typ, attrName, strings.Join(allowed, ", ")),
				Subject: attrs[attrName].NameRange.Ptr(),
			})
			delete(attrs, attrName)
		}
	}
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
		if ref, ok := e.reference(attr, false); ok {
			m.FromStage, m.FromRef = ref.stage, ref.ref
		}
	}
	m.ReadOnly = e.boolean(attrs, "readonly", typ == "bind")
	m.Required = e.boolean(attrs, "required", false)
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
			if n < 0 || n > MaxID {
				e.invalid(attrs[id.name], "Invalid "+id.name, fmt.Sprintf("`%s` must be from 0 to %d. Give an id in that range.", id.name, MaxID))
				continue
			}
			v := int(n)
			*id.dst = &v
		}
	}
	if attr, ok := attrs["size"]; ok {
		if val, ok := e.value(attr); ok {
			size, err := parseSize(val)
			if err != nil {
				e.invalid(attr, "Invalid size", sentence(err.Error()))
			}
			m.Size = size
		}
	}

	switch typ {
	case "cache":
		if m.ID == "" {
			m.ID = m.Target
		}
		if m.Sharing == "" {
			m.Sharing = "shared"
		}
	case "secret":
		switch {
		case m.ID == "" && m.Target == "":
			e.l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing secret id",
				Detail:   "A secret mount needs the id of a secret given with --secret id=ID,src=FILE. Add id = \"...\".",
				Subject:  b.DefRange.Ptr(),
			})
			return m, false
		case m.ID == "":
			m.ID = path.Base(m.Target)
		case m.Target == "" && m.Env == "":
			// BuildKit's default; with env alone the secret is no file.
			m.Target = "/run/secrets/" + m.ID
		}
	}
	if m.Target == "" && typ != "secret" {
		if _, given := attrs["target"]; !given {
			e.l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing mount target",
				Detail:   fmt.Sprintf("A %s mount needs the path it is mounted at. Add target = \"/path\".", typ),
				Subject:  b.DefRange.Ptr(),
			})
		}
		return m, false
	}
	return m, true
}

func (e *evaluator) copyStep(b *hcl.Block) *Copy {
	content, diags := b.Body.Content(copySchema)
	e.l.addEval(diags)
	attrs := content.Attributes
	c := &Copy{}
	c.Src, _ = e.sources(attrs, "src")
	c.Dest, _ = e.nonEmpty(attrs, "dest")
	if attr, ok := attrs["from"]; ok {
		if ref, ok := e.reference(attr, false); ok {
			c.FromStage, c.FromRef = ref.stage, ref.ref
		}
	}
	c.Exclude, _ = e.strs(attrs, "exclude", true)
	c.Chown = e.chown(attrs)
	c.Chmod = e.chmod(attrs)
	c.Link = e.boolean(attrs, "link", false)
	c.Parents = e.boolean(attrs, "parents", false)
	return c
}

func (e *evaluator) add(b *hcl.Block) *Add {
	content, diags := b.Body.Content(addSchema)
	e.l.addEval(diags)
	attrs := content.Attributes
	a := &Add{}
	_, hasSrc := attrs["src"]
	urlAttr, hasURL := attrs["url"]
	switch {
	case hasSrc && hasURL:
		e.l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Conflicting add sources",
			Detail:   "An add step takes either src (files from the context) or url (one download), not both. Use two add steps.",
			Subject:  urlAttr.NameRange.Ptr(),
		})
	case !hasSrc && !hasURL && misspelt(b.Body, addSchema, "src", "url"):
		// "Unsupported argument" already says which was meant.
	case !hasSrc && !hasURL:
		e.l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing add source",
			Detail:   "An add step needs src = [...] (files from the context) or url = \"https://...\" (a download).",
			Subject:  b.DefRange.Ptr(),
		})
	case hasSrc:
		a.Src, _ = e.sources(attrs, "src")
	case hasURL:
		if u, ok := e.nonEmpty(attrs, "url"); ok {
			if parsed, err := url.Parse(u); err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
				e.invalid(urlAttr, "Invalid URL", fmt.Sprintf("%q is not an http or https URL. Give the full URL of the file to download.", u))
			} else {
				a.URL = u
			}
		}
		if _, ok := attrs["checksum"]; !ok {
			e.l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing checksum",
				Detail:   "A download must be pinned so that builds are reproducible and cache keys are sound. Add checksum = \"sha256:...\" with the file's digest.",
				Subject:  urlAttr.NameRange.Ptr(),
			})
		}
	}
	if cs, ok := e.str(attrs, "checksum"); ok {
		if checksumPattern.MatchString(cs) {
			a.Checksum = cs
		} else {
			e.invalid(attrs["checksum"], "Invalid checksum",
				fmt.Sprintf("%q is not a digest. Write ALGORITHM:HEX with sha256, sha384 or sha512 and lower-case hex.", cs))
		}
	}
	a.Dest, _ = e.nonEmpty(attrs, "dest")
	a.Extract = e.boolean(attrs, "extract", false)
	a.Link = e.boolean(attrs, "link", false)
	a.Exclude, _ = e.strs(attrs, "exclude", true)
	a.Chown = e.chown(attrs)
	a.Chmod = e.chmod(attrs)
	return a
}

// macro evaluates a step macro block and turns its expansion into steps
// that carry the macro block's range. It reports every bad argument: each
// one HCL or a conversion rejects, and each one Expand rejects, at the
// argument (Expand never hears of the ones already reported).
func (e *evaluator) macro(b *hcl.Block, m stdlib.Macro, rng hcl.Range, vars []string) []Step {
	schema := &hcl.BodySchema{}
	for _, a := range m.Attributes {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: a.Name, Required: a.Required})
	}
	content, diags := b.Body.Content(schema)
	e.l.addEval(diags)
	broken := diags.HasErrors()
	// reported are the arguments with an error already: missing, or
	// failing to evaluate or convert. They are null for Expand.
	reported := map[string]bool{}
	args := map[string]cty.Value{}
	for _, a := range m.Attributes {
		args[a.Name] = cty.NullVal(a.Type)
		attr, ok := content.Attributes[a.Name]
		if !ok {
			reported[a.Name] = a.Required
			continue
		}
		val, diags := attr.Expr.Value(e.ctx)
		e.l.addEval(diags)
		if diags.HasErrors() || !val.IsWhollyKnown() {
			reported[a.Name] = true
			continue
		}
		if val.IsNull() {
			continue
		}
		conv, ok := e.convert(val, a.Type, attr)
		if !ok {
			reported[a.Name] = true
			continue
		}
		args[a.Name] = conv
	}
	expansion, err := m.Expand(args)
	for _, ae := range stdlib.ArgErrors(err) {
		if reported[ae.Attr] {
			continue
		}
		subject := b.DefRange
		if attr, ok := content.Attributes[ae.Attr]; ok {
			subject = attr.Expr.Range()
		}
		e.l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid " + m.Name + " argument",
			Detail:   sentence(ae.Error()),
			Subject:  subject.Ptr(),
		})
	}
	if err != nil || broken {
		return nil
	}
	for _, bad := range reported {
		if bad {
			return nil
		}
	}
	label := macroLabel(m, args)
	var steps []Step
	for _, ms := range expansion {
		switch ms.Kind {
		case stdlib.StepRun:
			r := &Run{Sh: ms.Sh, Exec: ms.Exec, IsExec: ms.Exec != nil, Network: ms.Network,
				Workdir: ms.Workdir, User: ms.User,
				Reads: ms.Reads, Writes: ms.Writes, Vars: vars, Macro: m.Name, MacroLabel: label, Range: rng}
			for _, kv := range ms.Env {
				r.Env = append(r.Env, EnvVar{Name: kv[0], Value: kv[1]})
			}
			for _, mm := range ms.Mounts {
				r.Mounts = append(r.Mounts, Mount{Type: mm.Type, Target: mm.Target, ID: mm.ID, Sharing: mm.Sharing, Range: rng})
			}
			steps = append(steps, r)
		case stdlib.StepCopy:
			steps = append(steps, &Copy{Src: ms.Src, Dest: ms.Dest, Chown: ms.Chown, Chmod: ms.Chmod, Vars: vars, Macro: m.Name, Range: rng})
		default:
			panic(fmt.Sprintf("lang: macro %s expanded to a step of unknown kind %q", m.Name, ms.Kind))
		}
	}
	return steps
}

func (e *evaluator) config(b *hcl.Block) *ImageConfig {
	content, diags := b.Body.Content(configSchema)
	e.l.addEval(diags)
	attrs := content.Attributes
	c := &ImageConfig{Range: e.l.blockRange(b.DefRange)}
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
			if err := ValidatePort(p); err != nil {
				e.l.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid port",
					Detail:   sentence(err.Error()),
					Subject:  elementRange(attrs["expose"], i).Ptr(),
				})
				continue
			}
			c.Expose = append(c.Expose, p)
		}
	}
	c.Volumes, _ = e.strs(attrs, "volumes", false)
	if sig, ok := e.str(attrs, "stop_signal"); ok {
		if err := ValidateStopSignal(sig); err != nil {
			e.invalid(attrs["stop_signal"], "Invalid stop signal", sentence(err.Error()))
		} else {
			c.StopSignal = sig
		}
	}
	c.OnBuild, _ = e.strs(attrs, "onbuild", false)
	c.Shell = e.shell(attrs, "shell")
	for i, hb := range content.Blocks {
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

func (e *evaluator) healthcheck(b *hcl.Block) *Healthcheck {
	content, diags := b.Body.Content(healthcheckSchema)
	e.l.addEval(diags)
	attrs := content.Attributes
	h := &Healthcheck{}
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

// fromValue is an evaluated reference to a base or a copy source.
type fromValue struct {
	scratch bool
	ref     string
	stage   string
}

// reference evaluates a `from` attribute: a stage or image reference, or
// an image reference string ("scratch" only where allowScratch).
func (e *evaluator) reference(attr *hcl.Attribute, allowScratch bool) (fromValue, bool) {
	val, ok := e.value(attr)
	if !ok {
		return fromValue{}, false
	}
	if val.Type() == stageRefType {
		return fromValue{stage: val.EncapsulatedValue().(*stageRef).Name}, true
	}
	sval, err := convert.Convert(val, cty.String)
	if err != nil {
		e.invalid(attr, "Incorrect attribute value type",
			fmt.Sprintf("The %s value must be an image reference string or a stage reference such as stage.build, not %s.", attr.Name, val.Type().FriendlyName()))
		return fromValue{}, false
	}
	s := sval.AsString()
	switch {
	case s == "scratch" && allowScratch:
		return fromValue{scratch: true}, true
	case quotedRef.MatchString(s):
		e.invalid(attr, "Quoted stage reference",
			fmt.Sprintf("%q is a string, so it would be read as an image name. Write the reference without quotes: %s = %s.", s, attr.Name, s))
		return fromValue{}, false
	case strings.HasPrefix(s, "oci:"), strings.HasPrefix(s, "docker-archive:"):
		_, p, _ := strings.Cut(s, ":")
		if p == "" {
			e.invalid(attr, "Invalid image reference", fmt.Sprintf("%q names no path. Write oci:PATH[:TAG] or docker-archive:PATH.", s))
			return fromValue{}, false
		}
		return fromValue{ref: s}, true
	}
	if _, err := name.ParseReference(s); err != nil {
		what := "NAME[:TAG][@DIGEST], oci:PATH[:TAG], docker-archive:PATH or a stage reference such as stage.build"
		if allowScratch {
			what = "NAME[:TAG][@DIGEST], oci:PATH[:TAG], docker-archive:PATH, scratch, or a stage reference such as stage.build"
		}
		e.invalid(attr, "Invalid image reference", fmt.Sprintf("%q is not an image reference: %s. Write %s.", s, err, what))
		return fromValue{}, false
	}
	return fromValue{ref: s}, true
}

// value evaluates attr; ok is false on errors (reported), unknown values
// (the consequence of an error reported elsewhere) and null (unset).
func (e *evaluator) value(attr *hcl.Attribute) (cty.Value, bool) {
	val, diags := attr.Expr.Value(e.ctx)
	e.l.addEval(diags)
	if diags.HasErrors() || !val.IsWhollyKnown() || val.IsNull() {
		return cty.NilVal, false
	}
	return val, true
}

func (e *evaluator) convert(val cty.Value, ty cty.Type, attr *hcl.Attribute) (cty.Value, bool) {
	return e.l.convert(val, ty, attr)
}

func (l *loader) convert(val cty.Value, ty cty.Type, attr *hcl.Attribute) (cty.Value, bool) {
	out, err := convert.Convert(val, ty)
	if err != nil {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail: fmt.Sprintf("Inappropriate value for attribute %q: %s. Give a value of type %s.",
				attr.Name, err, typeString(ty)),
			Subject: attr.Expr.Range().Ptr(),
		})
		return cty.NilVal, false
	}
	if out.IsNull() {
		return cty.NilVal, false
	}
	return out, true
}

// misspelt reports whether body has an argument schema does not declare
// whose closest declared name, as "Did you mean" suggests it, is one of
// names.
func misspelt(body hcl.Body, schema *hcl.BodySchema, names ...string) bool {
	_, rest, _ := body.PartialContent(schema)
	attrs, _ := rest.JustAttributes()
	var declared []string
	for _, a := range schema.Attributes {
		declared = append(declared, a.Name)
	}
	for name := range attrs {
		if contains(names, DidYouMean(name, declared)) {
			return true
		}
	}
	return false
}

// elementRange is the range of element i of a list written as a tuple
// constructor, else the whole expression's.
func elementRange(attr *hcl.Attribute, i int) hcl.Range {
	if t, ok := attr.Expr.(*hclsyntax.TupleConsExpr); ok && i < len(t.Exprs) {
		return t.Exprs[i].Range()
	}
	return attr.Expr.Range()
}

func (e *evaluator) invalid(attr *hcl.Attribute, summary, detail string) {
	e.l.add(&hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   detail,
		Subject:  attr.Expr.Range().Ptr(),
	})
}

func (e *evaluator) str(attrs hcl.Attributes, name string) (string, bool) {
	attr, ok := attrs[name]
	if !ok {
		return "", false
	}
	val, ok := e.value(attr)
	if !ok {
		return "", false
	}
	if val, ok = e.convert(val, cty.String, attr); !ok {
		return "", false
	}
	return val.AsString(), true
}

func (e *evaluator) nonEmpty(attrs hcl.Attributes, name string) (string, bool) {
	s, ok := e.str(attrs, name)
	if ok && s == "" {
		e.invalid(attrs[name], "Empty "+name, fmt.Sprintf("`%s` must not be empty. Give it a value.", name))
		return "", false
	}
	return s, ok
}

// strs evaluates a list of strings; with single, a lone string is a list
// of one.
func (e *evaluator) strs(attrs hcl.Attributes, name string, single bool) ([]string, bool) {
	attr, ok := attrs[name]
	if !ok {
		return nil, false
	}
	val, ok := e.value(attr)
	if !ok {
		return nil, false
	}
	if single && val.Type() == cty.String {
		return []string{val.AsString()}, true
	}
	list, ok := e.convert(val, cty.List(cty.String), attr)
	if !ok {
		return nil, false
	}
	return stringsOf(list), true
}

// sources evaluates src: a string or a non-empty list of non-empty paths.
func (e *evaluator) sources(attrs hcl.Attributes, name string) ([]string, bool) {
	src, ok := e.strs(attrs, name, true)
	if !ok {
		return nil, false
	}
	if len(src) == 0 || contains(src, "") {
		e.invalid(attrs[name], "Empty source path", "Every step needs at least one source, and no source path may be empty.")
		return nil, false
	}
	return src, true
}

func (e *evaluator) absPaths(attrs hcl.Attributes, name string) []string {
	paths, ok := e.strs(attrs, name, false)
	if !ok {
		return nil
	}
	for _, p := range paths {
		if !path.IsAbs(p) {
			e.invalid(attrs[name], "Relative path in "+name,
				fmt.Sprintf("%q is relative. The paths in `%s` are absolute paths in the image filesystem; start it with /.", p, name))
			return nil
		}
	}
	return paths
}

func (e *evaluator) boolean(attrs hcl.Attributes, name string, def bool) bool {
	attr, ok := attrs[name]
	if !ok {
		return def
	}
	val, ok := e.value(attr)
	if !ok {
		return def
	}
	if val, ok = e.convert(val, cty.Bool, attr); !ok {
		return def
	}
	return val.True()
}

func (e *evaluator) integer(attrs hcl.Attributes, name string) (int64, bool) {
	attr, ok := attrs[name]
	if !ok {
		return 0, false
	}
	val, ok := e.value(attr)
	if !ok {
		return 0, false
	}
	if val, ok = e.convert(val, cty.Number, attr); !ok {
		return 0, false
	}
	bf := val.AsBigFloat()
	n, acc := bf.Int64()
	if acc != big.Exact {
		e.invalid(attr, "Invalid number", fmt.Sprintf("The %s must be a whole number.", name))
		return 0, false
	}
	return n, true
}

func (e *evaluator) shell(attrs hcl.Attributes, name string) []string {
	sh, ok := e.strs(attrs, name, false)
	if ok && len(sh) == 0 {
		e.invalid(attrs[name], "Empty shell", "The shell names the program that runs sh commands, such as [\"/bin/sh\", \"-c\"]; it cannot be empty.")
		return nil
	}
	return sh
}

func (e *evaluator) chmod(attrs hcl.Attributes) string {
	s, ok := e.str(attrs, "chmod")
	if !ok {
		return ""
	}
	if !chmodPattern.MatchString(s) {
		e.invalid(attrs["chmod"], "Invalid file mode", fmt.Sprintf("%q is not an octal file mode. Write three or four octal digits, such as \"0755\".", s))
		return ""
	}
	return s
}

func (e *evaluator) chown(attrs hcl.Attributes) string {
	s, ok := e.str(attrs, "chown")
	if !ok {
		return ""
	}
	if !chownPattern.MatchString(s) {
		e.invalid(attrs["chown"], "Invalid owner", fmt.Sprintf("%q is not an owner. Write USER or USER:GROUP, by name or numeric id.", s))
		return ""
	}
	if err := ValidateUser(s); err != nil {
		e.invalid(attrs["chown"], "Invalid owner", capitalize(err.Error())+". Give a smaller numeric id, or a name.")
		return ""
	}
	return s
}

func (e *evaluator) oneOf(attr *hcl.Attribute, v, what string, allowed ...string) bool {
	if contains(allowed, v) {
		return true
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = strconv.Quote(a)
	}
	e.invalid(attr, "Invalid "+what,
		fmt.Sprintf("%q is not a valid %s.%s Use one of %s.", v, what, suggestion(v, allowed, ""), strings.Join(quoted, ", ")))
	return false
}

// env evaluates a map of environment variables. Written as an object
// constructor, its order is kept; otherwise (merge(...), a variable) it
// is sorted by name.
func (e *evaluator) env(attrs hcl.Attributes, name string) []EnvVar {
	attr, ok := attrs[name]
	if !ok {
		return nil
	}
	var out []EnvVar
	set := func(k, v string) {
		for i := range out {
			if out[i].Name == k {
				out[i].Value = v
				return
			}
		}
		out = append(out, EnvVar{Name: k, Value: v})
	}
	if obj, ok := attr.Expr.(*hclsyntax.ObjectConsExpr); ok {
		for _, item := range obj.Items {
			kv, diags := item.KeyExpr.Value(e.ctx)
			e.l.addEval(diags)
			vv, vdiags := item.ValueExpr.Value(e.ctx)
			e.l.addEval(vdiags)
			if diags.HasErrors() || vdiags.HasErrors() || !kv.IsWhollyKnown() || !vv.IsWhollyKnown() {
				continue
			}
			k, err := convert.Convert(kv, cty.String)
			if err != nil || k.IsNull() {
				e.invalid(attr, "Invalid environment variable name", "Environment variable names are strings.")
				continue
			}
			if vv.IsNull() {
				continue
			}
			v, err := convert.Convert(vv, cty.String)
			if err != nil {
				e.l.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Incorrect attribute value type",
					Detail:   fmt.Sprintf("The value of environment variable %q must be a string: %s.", k.AsString(), err),
					Subject:  item.ValueExpr.Range().Ptr(),
				})
				continue
			}
			if e.envName(attr, k.AsString()) {
				set(k.AsString(), v.AsString())
			}
		}
		return out
	}
	m, ok := e.strMap(attrs, name)
	if !ok {
		return nil
	}
	for _, k := range sortedKeys(m) {
		if e.envName(attr, k) {
			set(k, m[k])
		}
	}
	return out
}

func (e *evaluator) envName(attr *hcl.Attribute, k string) bool {
	if k == "" || strings.ContainsAny(k, "=\x00") {
		e.invalid(attr, "Invalid environment variable name", fmt.Sprintf("%q cannot be an environment variable name: it is empty or holds \"=\".", k))
		return false
	}
	return true
}

func (e *evaluator) strMap(attrs hcl.Attributes, name string) (map[string]string, bool) {
	attr, ok := attrs[name]
	if !ok {
		return nil, false
	}
	val, ok := e.value(attr)
	if !ok {
		return nil, false
	}
	m, ok := e.convert(val, cty.Map(cty.String), attr)
	if !ok {
		return nil, false
	}
	out := map[string]string{}
	for k, v := range m.AsValueMap() {
		if !v.IsNull() { // null means unset, as for attributes
			out[k] = v.AsString()
		}
	}
	return out, true
}

func stringsOf(list cty.Value) []string {
	out := []string{}
	for it := list.ElementIterator(); it.Next(); {
		_, v := it.Element()
		if v.IsNull() {
			continue
		}
		out = append(out, v.AsString())
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// parseSize reads a tmpfs size: a number of bytes, or a string with a
// binary unit suffix (k, m, g).
func parseSize(val cty.Value) (int64, error) {
	if val.Type() == cty.Number {
		n, acc := val.AsBigFloat().Int64()
		if acc != big.Exact || n < 0 {
			return 0, fmt.Errorf("the size must be a whole, non-negative number of bytes")
		}
		return n, nil
	}
	sval, err := convert.Convert(val, cty.String)
	if err != nil {
		return 0, fmt.Errorf("the size must be a number of bytes or a string such as \"64m\"")
	}
	s := strings.ToLower(strings.TrimSpace(sval.AsString()))
	mult := int64(1)
	for suffix, m := range map[string]int64{"k": 1 << 10, "m": 1 << 20, "g": 1 << 30} {
		if t, ok := strings.CutSuffix(strings.TrimSuffix(s, "b"), suffix); ok && t != "" {
			s, mult = t, m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size. Write a number of bytes, or a number with k, m or g, such as \"64m\"", sval.AsString())
	}
	return n * mult, nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// sentence capitalises an error message and ends it with a period.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = capitalize(s)
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// macroLabel renders a macro block for people: its name and the values of
// its arguments that were set, in declaration order ("user app 1000").
func macroLabel(m stdlib.Macro, args map[string]cty.Value) string {
	parts := []string{m.Name}
	for _, a := range m.Attributes {
		v := args[a.Name]
		if v.IsNull() || !v.IsWhollyKnown() {
			continue
		}
		switch {
		case v.Type() == cty.String:
			parts = append(parts, v.AsString())
		case v.Type() == cty.Number:
			parts = append(parts, v.AsBigFloat().Text('f', -1))
		case v.Type().IsListType() || v.Type().IsSetType() || v.Type().IsTupleType():
			seen := map[string]bool{}
			for it := v.ElementIterator(); it.Next(); {
				if _, e := it.Element(); e.Type() == cty.String && !e.IsNull() && !seen[e.AsString()] {
					seen[e.AsString()] = true
					parts = append(parts, e.AsString())
				}
			}
		}
	}
	return strings.Join(parts, " ")
}
