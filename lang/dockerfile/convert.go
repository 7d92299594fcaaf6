package dockerfile

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/model"
)

// ConvertOptions tune Convert.
type ConvertOptions struct {
	// ImageName names the image block when the final stage has no AS
	// name; "app" when empty.
	ImageName string
	// Platform is the target platform whose values TARGETARCH and friends
	// default to; the host's when empty.
	Platform string
}

// Convert writes the .image.hcl configuration for a Dockerfile: named
// stages, variables for ARGs, mount blocks and one config block per stage,
// formatted as `imgc fmt` would. Loading the result gives the same model
// Import gives for the Dockerfile (with default ARG values). What HCL
// cannot say exactly is a warning naming the line; errors are Import's.
func Convert(filename string, src []byte, opts ConvertOptions) ([]byte, hcl.Diagnostics) {
	if diags := checkSize(filename, src); diags != nil {
		return nil, diags
	}
	if !utf8.Valid(src) {
		line := 1 + bytes.Count(src[:invalidUTF8(src)], []byte("\n"))
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Dockerfile not UTF-8",
			Detail:   "HCL files are UTF-8, so a Dockerfile with other bytes cannot be converted. Re-encode the file as UTF-8.",
			Subject:  newSource(filename, src).lines(line, line).Ptr(),
		}}
	}
	im := newImporter(filename, src, Options{Platform: opts.Platform}, true)
	im.run()
	if im.cfg != nil {
		// The values of steps (an empty RUN); what only the built
		// configuration needs, such as a valid platform, lang checks when
		// it loads the conversion.
		for _, st := range im.cfg.Stages {
			im.diags = append(im.diags, checkSteps(st.Steps)...)
		}
	}
	if im.diags.HasErrors() || im.cfg == nil {
		return nil, im.diags
	}
	w := &writer{im: im, opts: opts, names: map[string]string{}, kinds: map[string]model.StageKind{}}
	out := w.write()
	formatted := hclwrite.Format(out)
	if _, diags := hclsyntax.ParseConfig(formatted, filename+".image.hcl", hcl.InitialPos); diags.HasErrors() {
		// The writer produced invalid HCL: a bug here, not in the input.
		return nil, append(im.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Internal error in imgc convert",
			Detail:   fmt.Sprintf("The converted configuration does not parse (%s). This is a bug in imgc; please report it with the Dockerfile.", diags.Error()),
			Subject:  im.src.lines(1, 1).Ptr(),
		})
	}
	return formatted, im.diags
}

// invalidUTF8 is the offset of the first byte that is not UTF-8.
func invalidUTF8(src []byte) int {
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(src)
}

// writer renders an importer's model and side tables as HCL.
type writer struct {
	im    *importer
	opts  ConvertOptions
	names map[string]string // Dockerfile stage name -> HCL block name
	kinds map[string]model.StageKind
	taken map[int]bool // comment lines already written
	// cur is the stage being written: step and config env values are
	// written relative to its env, which the HCL front end chains them to.
	cur *model.Stage
}

var varRefPattern = regexp.MustCompile(`var\.([A-Za-z_][A-Za-z0-9_-]*)`)

func (w *writer) write() []byte {
	w.taken = map[int]bool{}
	w.nameStages()

	stages := hclwrite.NewEmptyFile()
	for _, st := range w.im.cfg.Stages {
		w.stage(stages.Body(), st)
	}
	w.comments(stages.Body(), math.MaxInt)
	stageBytes := stages.Bytes()
	used := map[string]bool{}
	for _, m := range varRefPattern.FindAllStringSubmatch(string(stageBytes), -1) {
		used[m[1]] = true
	}

	f := hclwrite.NewEmptyFile()
	body := f.Body()
	body.AppendUnstructuredTokens(comment(fmt.Sprintf("Converted from %s by imgc convert.", filepath.Base(w.im.src.filename))))
	body.AppendNewline()
	for _, v := range w.im.vars.list {
		if v.Platform && !used[v.Name] {
			continue
		}
		if v.Stage == "" && !v.Platform {
			w.comments(body, v.Range.Start.Line)
		}
		b := body.AppendNewBlock("variable", []string{v.Name}).Body()
		switch {
		case v.Platform:
			b.SetAttributeRaw("description", raw(quoted("BuildKit's automatic "+v.Arg+"; defaults to the platform imgc convert ran for")))
		case v.Stage != "":
			b.SetAttributeRaw("description", raw(quoted(quoteLit(fmt.Sprintf("ARG %s of stage %s", v.Arg, w.hclName(v.Stage))))))
		}
		b.SetAttributeRaw("type", raw("string"))
		if !v.Required {
			b.SetAttributeRaw("default", raw(quoted(quoteLit(v.Default))))
		}
		body.AppendNewline()
	}
	out := f.Bytes()
	return append(out, stageBytes...)
}

func comment(text string) hclwrite.Tokens {
	var toks hclwrite.Tokens
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight("# "+line, " ")
		toks = append(toks, &hclwrite.Token{Type: hclsyntax.TokenComment, Bytes: []byte(line + "\n")})
	}
	return toks
}

// comments writes the Dockerfile comments of lines up to line that are not
// written yet.
func (w *writer) comments(body *hclwrite.Body, line int) {
	var lines []int
	for l := range w.im.comments {
		if l <= line && !w.taken[l] {
			lines = append(lines, l)
		}
	}
	sort.Ints(lines)
	for _, l := range lines {
		w.taken[l] = true
		for _, c := range w.im.comments[l] {
			body.AppendUnstructuredTokens(comment(c))
		}
	}
}

func raw(s string) hclwrite.Tokens {
	return hclwrite.Tokens{{Type: hclsyntax.TokenIdent, Bytes: []byte(s)}}
}

// quoted wraps a quoted-template body in quotes, or gives a bare
// reference when the template is exactly one.
func quoted(tmpl string) string {
	if m := bareRef.FindStringSubmatch(tmpl); m != nil {
		return m[1]
	}
	return `"` + tmpl + `"`
}

var bareRef = regexp.MustCompile(`^\$\{(var\.[A-Za-z_][A-Za-z0-9_-]*)\}$`)

func strList(values []string) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = `"` + quoteLit(v) + `"`
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (w *writer) nameStages() {
	used := map[string]bool{}
	for _, st := range w.im.cfg.Stages {
		name := identifier(strings.ReplaceAll(st.Name, ".", "_"))
		if st.Kind == model.KindImage && strings.HasPrefix(st.Name, "stage-") && w.isDefaultName(st) {
			name = w.opts.ImageName
			if name == "" {
				name = "app"
			}
		}
		base := name
		for i := 2; used[name]; i++ {
			name = fmt.Sprintf("%s_%d", base, i)
		}
		used[name] = true
		w.names[st.Name] = name
		w.kinds[st.Name] = st.Kind
	}
}

func (w *writer) isDefaultName(st *model.Stage) bool {
	for i, s := range w.im.cfg.Stages {
		if s == st {
			return st.Name == fmt.Sprintf("stage-%d", i)
		}
	}
	return false
}

func (w *writer) hclName(stage string) string {
	if n, ok := w.names[stage]; ok {
		return n
	}
	return stage
}

// stageRef is the traversal naming a stage of the configuration.
func (w *writer) stageRef(stage string) string {
	return string(w.kinds[stage]) + "." + w.hclName(stage)
}

func (w *writer) stage(body *hclwrite.Body, st *model.Stage) {
	im := w.im
	w.cur = st
	w.comments(body, st.DeclRange.Start.Line)
	b := body.AppendNewBlock(string(st.Kind), []string{w.hclName(st.Name)}).Body()
	b.SetAttributeRaw("from", raw(w.base(st, "from", st.From.Base)))
	if st.Platform != "" {
		b.SetAttributeRaw("platform", raw(quoted(im.template(st, "platform", st.Platform))))
	}
	w.runSettings(b, st, st.Env, st.Workdir, st.User, st.Shell)
	for _, step := range st.Steps {
		b.AppendNewline()
		w.comments(b, step.StepRange().Start.Line)
		w.step(b, step, 1)
	}
	if st.Config != nil {
		b.AppendNewline()
		w.comments(b, st.Range.End.Line)
		w.config(b, st.Config)
	} else {
		w.comments(b, st.Range.End.Line)
	}
	body.AppendNewline()
}

// runSettings writes the attributes a stage and a run step share: env,
// workdir, user and shell (owner is the stage or step, for templates).
func (w *writer) runSettings(b *hclwrite.Body, owner any, env []model.EnvVar, workdir, user string, shell []string) {
	if len(env) > 0 {
		b.SetAttributeRaw("env", raw(w.envObject(owner, env)))
	}
	if workdir != "" {
		b.SetAttributeRaw("workdir", raw(quoted(w.im.template(owner, "workdir", workdir))))
	}
	if user != "" {
		b.SetAttributeRaw("user", raw(quoted(w.im.template(owner, "user", user))))
	}
	if shell != nil {
		b.SetAttributeRaw("shell", raw(strList(shell)))
	}
}

// relativeToStage rewrites a step's or config's env value that the
// importer chained through the stage's env (PATH=/y:/x:$PATH over the stage's
// PATH=/x:$PATH) as the HCL front end reads it: relative to the stage's env
// (PATH = "/y:$PATH"). changed is false when the value reads the same both
// ways; a value that cannot be written so is kept, with a warning.
func (w *writer) relativeToStage(owner any, e model.EnvVar) (string, bool) {
	if w.cur == nil || owner == any(w.cur) || len(w.cur.Env) == 0 || !strings.Contains(e.Value, "$") {
		return e.Value, false
	}
	vars := map[string]string{}
	for _, v := range w.cur.Env {
		vars[v.Name] = v.Value
	}
	if lang.SubstituteVars(e.Value, vars) == e.Value {
		return e.Value, false
	}
	rel := e.Value
	for _, v := range w.cur.Env {
		if strings.Contains(v.Value, "$") && strings.Contains(rel, v.Value) {
			rel = strings.ReplaceAll(rel, v.Value, "$"+v.Name)
		}
	}
	if lang.SubstituteVars(rel, vars) == e.Value {
		return rel, true
	}
	rng := w.cur.DeclRange
	switch o := owner.(type) {
	case *model.Run:
		rng = o.Range
	case *model.ImageConfig:
		rng = o.Range
	}
	w.im.warnf(rng, "Environment value not expressible",
		"The value %q of %s refers to the base image's $ variables that the stage's env sets again; in HCL a step's $NAME means the stage's value. Check the converted value.", e.Value, e.Name)
	return e.Value, false
}

func (w *writer) envObject(owner any, env []model.EnvVar) string {
	var sb strings.Builder
	sb.WriteString("{\n")
	for _, e := range env {
		key := e.Name
		if !hclsyntax.ValidIdentifier(key) {
			key = `"` + quoteLit(key) + `"`
		}
		tmpl := w.im.template(owner, "env."+e.Name, e.Value)
		if rel, changed := w.relativeToStage(owner, e); changed {
			tmpl = quoteLit(rel)
		}
		fmt.Fprintf(&sb, "%s = %s\n", key, quoted(tmpl))
	}
	sb.WriteString("}")
	return sb.String()
}

func (w *writer) step(body *hclwrite.Body, step model.Step, depth int) {
	switch s := step.(type) {
	case *model.Run:
		w.run(body, s, depth)
	case *model.Copy:
		w.copyStep(body, s)
	case *model.Add:
		w.addStep(body, s)
	case *model.Layer:
		b := body.AppendNewBlock("layer", []string{s.Name}).Body()
		for i, inner := range s.Steps {
			if i > 0 {
				b.AppendNewline()
			}
			w.step(b, inner, depth+1)
		}
	}
}

func (w *writer) run(body *hclwrite.Body, r *model.Run, depth int) {
	b := body.AppendNewBlock("run", nil).Body()
	switch c := r.Command.(type) {
	case *model.Exec:
		b.SetAttributeRaw("exec", raw(strList(c.Argv)))
	case *model.Sh:
		b.SetAttributeRaw("sh", raw(shValue(c.Script, depth+1)))
	}
	w.runSettings(b, r, r.Env, r.Workdir, r.User, r.Shell)
	if r.Network != "" {
		b.SetAttributeRaw("network", raw(quoted(quoteLit(r.Network))))
	}
	for i, m := range r.Mounts {
		w.mount(b, r, i, m)
	}
}

// shValue writes a shell command: a heredoc for multi-line scripts, a list
// for "a && b" chains, else a quoted string.
func shValue(sh string, depth int) string {
	if strings.Contains(sh, "\n") && strings.HasSuffix(sh, "\n") {
		return heredoc(sh, depth)
	}
	parts := splitAnd(sh)
	if len(parts) > 1 && !strings.Contains(sh, "\n") {
		clean := true
		for _, p := range parts {
			if p == "" || strings.TrimSpace(p) != p {
				clean = false
			}
		}
		if clean {
			var sb strings.Builder
			sb.WriteString("[\n")
			for _, p := range parts {
				sb.WriteString(`"` + quoteLit(p) + "\",\n")
			}
			sb.WriteString("]")
			return sb.String()
		}
	}
	return `"` + quoteLit(sh) + `"`
}

// splitAnd splits a command at the " && " that are outside quotes, so that
// joining the parts with " && " (what the HCL front end does with a list)
// gives the command back.
func splitAnd(sh string) []string {
	var parts []string
	var quote byte
	start := 0
	for i := 0; i < len(sh); i++ {
		c := sh[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\\':
			i++
		case c == '\'' || c == '"':
			quote = c
		case strings.HasPrefix(sh[i:], " && "):
			parts = append(parts, sh[start:i])
			start = i + len(" && ")
			i += len(" && ") - 1
		}
	}
	return append(parts, sh[start:])
}

// heredoc writes s (ending in a newline) as an HCL heredoc. The indented
// form is used only when HCL's indentation stripping gives back s exactly.
func heredoc(s string, depth int) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	marker := "EOT"
	for n := 2; ; n++ {
		clash := false
		for _, l := range lines {
			if strings.TrimSpace(l) == marker {
				clash = true
			}
		}
		if !clash {
			break
		}
		marker = "EOT" + strconv.Itoa(n)
	}
	flush := false
	for _, l := range lines {
		if l != "" && strings.TrimSpace(l) == "" {
			flush = false
			break
		}
		if l != "" && l[0] != ' ' && l[0] != '\t' {
			flush = true
		}
	}
	var sb strings.Builder
	if !flush {
		sb.WriteString("<<" + marker + "\n")
		for _, l := range lines {
			sb.WriteString(heredocLit(l) + "\n")
		}
		sb.WriteString(marker)
		return sb.String()
	}
	indent := strings.Repeat("  ", depth+1)
	sb.WriteString("<<-" + marker + "\n")
	for _, l := range lines {
		if l != "" {
			sb.WriteString(indent)
		}
		sb.WriteString(heredocLit(l) + "\n")
	}
	sb.WriteString(strings.Repeat("  ", depth) + marker)
	return sb.String()
}

func (w *writer) mount(body *hclwrite.Body, r *model.Run, index int, m model.Mount) {
	b := body.AppendNewBlock("mount", []string{m.Type}).Body()
	str := func(name, v string) {
		b.SetAttributeRaw(name, raw(quoted(w.im.template(r, fmt.Sprintf("mount.%d.%s", index, name), v))))
	}
	switch m.Type {
	case "cache":
		str("target", m.Target)
		if m.ID != m.Target {
			str("id", m.ID)
		}
		if m.Sharing != "" && m.Sharing != "shared" {
			str("sharing", m.Sharing)
		}
	case "secret":
		str("id", m.ID)
		if m.Target != "" && (m.Target != "/run/secrets/"+m.ID || m.Env != "") {
			str("target", m.Target)
		}
		if m.Env != "" {
			str("env", m.Env)
		}
		if m.Required {
			b.SetAttributeRaw("required", raw("true"))
		}
	default:
		str("target", m.Target)
	}
	if m.Source != "" {
		str("source", m.Source)
	}
	if m.From != nil {
		b.SetAttributeRaw("from", raw(w.base(r, fmt.Sprintf("mount.%d.from", index), m.From)))
	}
	switch m.Type {
	case "bind":
		if !m.ReadOnly {
			b.SetAttributeRaw("readonly", raw("false"))
		}
	case "cache":
		if m.ReadOnly {
			b.SetAttributeRaw("readonly", raw("true"))
		}
	}
	if m.Mode != nil {
		str("mode", fmt.Sprintf("%04o", *m.Mode))
	}
	if m.UID != nil {
		b.SetAttributeRaw("uid", raw(strconv.Itoa(*m.UID)))
	}
	if m.GID != nil {
		b.SetAttributeRaw("gid", raw(strconv.Itoa(*m.GID)))
	}
	if m.Size != 0 {
		b.SetAttributeRaw("size", raw(strconv.FormatInt(m.Size, 10)))
	}
}

// srcValue writes sources as a string or a list, with their templates.
func (w *writer) srcValue(owner any, src []string) string {
	parts := make([]string, len(src))
	for i, s := range src {
		parts[i] = quoted(w.im.template(owner, "src."+strconv.Itoa(i), s))
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// checkSteps is model.CheckStep of every step, in layers too.
func checkSteps(steps []model.Step) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, s := range steps {
		diags = append(diags, model.CheckStep(s)...)
	}
	return diags
}

// base renders a base or a copy or mount source: a stage reference, or an
// image reference as the Dockerfile wrote it (its recorded template).
func (w *writer) base(owner any, field string, b model.Base) string {
	if t, ok := w.im.tmpl[owner][field]; ok {
		return quoted(t)
	}
	switch b := b.(type) {
	case *model.Target:
		return w.stageRef(b.Name)
	case *model.Image:
		return quoted(quoteLit(b.Ref.Qualified()))
	}
	return `"scratch"`
}

func (w *writer) copyStep(body *hclwrite.Body, c *model.Copy) {
	im := w.im
	b := body.AppendNewBlock("copy", nil).Body()
	b.SetAttributeRaw("src", raw(w.srcValue(c, c.Src)))
	b.SetAttributeRaw("dest", raw(quoted(im.template(c, "dest", c.Dest))))
	if c.From != nil {
		b.SetAttributeRaw("from", raw(w.base(c, "from", c.From)))
	}
	w.fileAttrs(b, c, c.Exclude, c.Chown, c.Chmod, c.Link)
	if c.Parents {
		b.SetAttributeRaw("parents", raw("true"))
	}
}

func (w *writer) addStep(body *hclwrite.Body, a *model.Add) {
	im := w.im
	b := body.AppendNewBlock("add", nil).Body()
	if a.URL != "" {
		b.SetAttributeRaw("url", raw(quoted(im.template(a, "url", a.URL))))
		if a.Checksum != "" {
			b.SetAttributeRaw("checksum", raw(quoted(im.template(a, "checksum", a.Checksum))))
		}
	} else {
		b.SetAttributeRaw("src", raw(w.srcValue(a, a.Src)))
	}
	b.SetAttributeRaw("dest", raw(quoted(im.template(a, "dest", a.Dest))))
	if a.Extract {
		b.SetAttributeRaw("extract", raw("true"))
	}
	w.fileAttrs(b, a, a.Exclude, a.Chown, a.Chmod, a.Link)
}

func (w *writer) fileAttrs(b *hclwrite.Body, owner any, exclude []string, chown, chmod string, link bool) {
	if len(exclude) > 0 {
		b.SetAttributeRaw("exclude", raw(strList(exclude)))
	}
	if chown != "" {
		b.SetAttributeRaw("chown", raw(quoted(w.im.template(owner, "chown", chown))))
	}
	if chmod != "" {
		b.SetAttributeRaw("chmod", raw(quoted(w.im.template(owner, "chmod", chmod))))
	}
	if link {
		b.SetAttributeRaw("link", raw("true"))
	}
}

func (w *writer) config(body *hclwrite.Body, c *model.ImageConfig) {
	im := w.im
	b := body.AppendNewBlock("config", nil).Body()
	if c.EntrypointSet {
		b.SetAttributeRaw("entrypoint", raw(strList(c.Entrypoint)))
	}
	if c.CmdSet {
		b.SetAttributeRaw("cmd", raw(strList(c.Cmd)))
	}
	if len(c.Env) > 0 {
		b.SetAttributeRaw("env", raw(w.envObject(c, c.Env)))
	}
	if c.User != "" {
		b.SetAttributeRaw("user", raw(quoted(im.template(c, "user", c.User))))
	}
	if c.Workdir != "" {
		b.SetAttributeRaw("workdir", raw(quoted(im.template(c, "workdir", c.Workdir))))
	}
	if len(c.Labels) > 0 {
		keys := make([]string, 0, len(c.Labels))
		for k := range c.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var sb strings.Builder
		sb.WriteString("{\n")
		for _, k := range keys {
			fmt.Fprintf(&sb, "\"%s\" = %s\n", quoteLit(k), quoted(im.template(c, "labels."+k, c.Labels[k])))
		}
		sb.WriteString("}")
		b.SetAttributeRaw("labels", raw(sb.String()))
	}
	if len(c.Expose) > 0 {
		parts := make([]string, len(c.Expose))
		for i, p := range c.Expose {
			parts[i] = quoted(im.template(c, "expose."+p, p))
		}
		b.SetAttributeRaw("expose", raw("["+strings.Join(parts, ", ")+"]"))
	}
	if len(c.Volumes) > 0 {
		parts := make([]string, len(c.Volumes))
		for i, v := range c.Volumes {
			parts[i] = quoted(im.template(c, "volumes."+v, v))
		}
		b.SetAttributeRaw("volumes", raw("["+strings.Join(parts, ", ")+"]"))
	}
	if c.StopSignal != "" {
		b.SetAttributeRaw("stop_signal", raw(quoted(im.template(c, "stop_signal", c.StopSignal))))
	}
	if len(c.OnBuild) > 0 {
		var sb strings.Builder
		sb.WriteString("[\n")
		for _, o := range c.OnBuild {
			sb.WriteString(`"` + quoteLit(o) + "\",\n")
		}
		sb.WriteString("]")
		b.SetAttributeRaw("onbuild", raw(sb.String()))
	}
	if c.Shell != nil {
		b.SetAttributeRaw("shell", raw(strList(c.Shell)))
	}
	if h := c.Healthcheck; h != nil {
		hb := b.AppendNewBlock("healthcheck", nil).Body()
		hb.SetAttributeRaw("test", raw(strList(h.Test)))
		for _, d := range []struct{ name, v string }{{"interval", h.Interval}, {"timeout", h.Timeout}, {"start_period", h.StartPeriod}, {"start_interval", h.StartInterval}} {
			if d.v != "" {
				hb.SetAttributeRaw(d.name, raw(`"`+d.v+`"`))
			}
		}
		if h.Retries != 0 {
			hb.SetAttributeRaw("retries", raw(strconv.Itoa(h.Retries)))
		}
	}
}
